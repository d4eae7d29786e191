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

/** dlopen and its flags where they are known: glibc's Linux (musl never unloads) and macOS. */
const DLOPEN = {
  linux: { libraries: ['libc.so.6', 'libdl.so.2'], lazy: 0x1, noload: 0x4, nodelete: 0x1000 },
  darwin: { libraries: ['libSystem.B.dylib'], lazy: 0x1, noload: 0x10, nodelete: 0x80 },
} as const;
let pin: ((path: string, flags: number) => unknown) | null | undefined;

/**
 * Keeps a library koffi loaded mapped until the process is gone. At exit Node finalizes koffi's
 * handles and koffi unloads their libraries while threads those libraries started (OpenBLAS's
 * and OpenMP's pools, MPI's, CUDA's) may still run their code: a SIGSEGV after the program's
 * last line. A second dlopen of the loaded library, marked no-delete, makes those unloads
 * no-ops. Where dlopen is unknown (Windows) nothing is done. Returns whether it was pinned.
 */
export function keepLoaded(koffi: Koffi, path: string): boolean {
  const flags = DLOPEN[process.platform as keyof typeof DLOPEN];
  if (!flags) return false;
  if (pin === undefined) {
    pin = null;
    for (const library of flags.libraries) {
      try {
        pin = koffi.load(library).func('void *dlopen(const char *path, int flags)') as (path: string, flags: number) => unknown;
        break;
      } catch {
        // glibc before 2.34 keeps dlopen in libdl
      }
    }
  }
  return pin !== null && pin(path, flags.lazy | flags.noload | flags.nodelete) !== null;
}
