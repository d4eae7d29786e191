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
  try {
    koffi.config({ ...koffi.config(), async_stack_size: WORKER_STACK_BYTES });
  } catch {
    // the program loaded a library through koffi first: its settings stay, and MPICH's
    // collectives then run on the main thread (mpi.ts asks workerStacksSized)
  }
  return (loaded = koffi);
}

/** Whether koffi's worker threads got the stack loadKoffi asks for (not when the program set koffi up first). */
export const workerStacksSized = (koffi: Koffi): boolean => (koffi.config().async_stack_size ?? 0) >= WORKER_STACK_BYTES;
