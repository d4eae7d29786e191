// koffi, the FFI every native library goes through, loaded once and set up before its first
// library is (koffi refuses changes after): a call on one of its worker threads (MPI's
// collectives, PJRT's event waits) gets the stack a call on the main thread has, since MPICH's
// allreduce overflows koffi's 128 KiB default there.
import { nodeBuiltin } from './platform.js';

export type Koffi = typeof import('koffi');

const WORKER_STACK_BYTES = 2 << 20;
let loaded: Koffi | undefined;

/** koffi, configured; throws outside Node.js or where the package cannot be loaded. */
export function loadKoffi(): Koffi {
  if (loaded) return loaded;
  const m = nodeBuiltin('module');
  if (!m) throw new Error('no FFI outside Node.js');
  const koffi = m.createRequire(import.meta.url)('koffi') as Koffi;
  koffi.config({ ...koffi.config(), async_stack_size: WORKER_STACK_BYTES });
  return (loaded = koffi);
}
