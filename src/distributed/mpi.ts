// Open MPI through koffi, loaded at run time, on native buffers that stay put until a collective
// completes. The data collectives are MPI's blocking ones (its tuned algorithms: the nonblocking
// ones run 1.6x slower here) called on a worker thread (MPI_THREAD_MULTIPLE), so the event loop,
// and backward, go on meanwhile; the small allgather that checks every rank made the same call
// is nonblocking, polled with MPI_Test, so a rank that never comes is a timeout, not a stuck
// thread. In Open MPI, handles such as MPI_COMM_WORLD are addresses of exported objects
// (ompi_mpi_comm_world).
import { TesseraError } from '../core/errors.js';
import { env, nodeBuiltin } from '../core/platform.js';

type Koffi = typeof import('koffi');
type Fn = (...args: unknown[]) => number;
type Handle = unknown;

const MPI_SUCCESS = 0;
const MPI_IN_PLACE = 1;
/** MPI_THREAD_MULTIPLE: any thread may call MPI (the collectives run on koffi's worker threads) */
const THREAD_MULTIPLE = 3;

export const INSTALL_HINT = 'install Open MPI (Debian/Ubuntu: `apt install openmpi-bin libopenmpi3`), or set TESSERA_MPI_LIBRARY to its libmpi.so';

/** Where libmpi usually is; the dynamic loader resolves bare names. */
function candidates(): string[] {
  const given = env('TESSERA_MPI_LIBRARY');
  if (given) return [given];
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  return ['libmpi.so.40', 'libmpi.so', `/usr/lib/${arch}/libmpi.so.40`, `/usr/lib/${arch}/openmpi/lib/libmpi.so.40`, '/opt/openmpi/lib/libmpi.so.40', '/usr/local/lib/libmpi.so.40'];
}

const PROTOTYPES = {
  MPI_Initialized: 'int MPI_Initialized(_Out_ int *flag)',
  MPI_Query_thread: 'int MPI_Query_thread(_Out_ int *provided)',
  MPI_Init_thread: 'int MPI_Init_thread(void *argc, void *argv, int required, _Out_ int *provided)',
  MPI_Finalize: 'int MPI_Finalize()',
  MPI_Comm_rank: 'int MPI_Comm_rank(void *comm, _Out_ int *rank)',
  MPI_Comm_size: 'int MPI_Comm_size(void *comm, _Out_ int *size)',
  MPI_Get_library_version: 'int MPI_Get_library_version(_Out_ uint8_t *version, _Out_ int *length)',
  MPI_Error_string: 'int MPI_Error_string(int code, _Out_ uint8_t *text, _Out_ int *length)',
  // send is MPI_IN_PLACE, which Open MPI defines as the address 1
  // the data collectives take addresses: of native buffers, or of CPU tensors in the heap
  MPI_Allreduce: 'int MPI_Allreduce(intptr_t send, intptr_t recv, int count, void *dtype, void *op, void *comm)',
  MPI_Bcast: 'int MPI_Bcast(intptr_t buffer, int count, void *dtype, int root, void *comm)',
  MPI_Allgather: 'int MPI_Allgather(intptr_t send, int sendCount, void *sendType, intptr_t recv, int recvCount, void *recvType, void *comm)',
  MPI_Iallgather: 'int MPI_Iallgather(void *send, int sendCount, void *sendType, void *recv, int recvCount, void *recvType, void *comm, _Out_ void **request)',
  MPI_Test: 'int MPI_Test(_Inout_ void **request, _Out_ int *flag, void *status)',
} as const;

export type MpiDType = 'float' | 'int' | 'byte';
export type MpiOp = 'sum' | 'max' | 'min';

/** A memory address (koffi gives numbers or bigints). */
export type Address = number | bigint;

/** A native buffer the collectives read and write, with a typed view over it. */
export interface NativeBuffer { readonly pointer: unknown; readonly address: Address; readonly bytes: ArrayBuffer; free(): void }

export interface Mpi {
  readonly path: string;
  readonly version: string;
  readonly rank: number;
  readonly size: number;
  allocate(bytes: number): NativeBuffer;
  /** Starts a collective and returns its request; `done(request)` polls it. */
  /** in place when send is recv; each promise settles when this rank's part is done */
  allreduce(send: Address, recv: Address, count: number, dtype: MpiDType, op: MpiOp): Promise<void>;
  bcast(buffer: Address, count: number, dtype: MpiDType, root: number): Promise<void>;
  allgather(send: Address, recv: Address, count: number, dtype: MpiDType): Promise<void>;
  /** where a typed array's bytes start (for memory MPI may use in place: the CPU heap), or null where that cannot be told */
  addressOf(array: ArrayBufferView): Address | null;
  /** nonblocking, for polling with done() */
  iallgather(send: NativeBuffer, recv: NativeBuffer, count: number, dtype: MpiDType): Handle;
  done(request: Handle): boolean;
  finalize(): void;
}

export type MpiProbe = { mpi: Mpi } | { reason: string; tried: string[] };

function loadKoffi(): Koffi | null {
  const m = nodeBuiltin('module');
  if (!m) return null;
  try {
    return m.createRequire(import.meta.url)('koffi') as Koffi;
  } catch {
    return null;
  }
}

/** The first Open MPI library that loads (RTLD_GLOBAL: its plugins resolve symbols against it). */
export function findMpiLibrary(): { koffi: Koffi; lib: ReturnType<Koffi['load']>; path: string } | { reason: string; tried: string[] } {
  const koffi = loadKoffi();
  if (!koffi) return { reason: 'MPI needs Node.js and the koffi package', tried: [] };
  const tried: string[] = [];
  for (const path of candidates()) {
    tried.push(path);
    try {
      const lib = koffi.load(path, { global: true });
      lib.symbol('ompi_mpi_comm_world', koffi.opaque());
      return { koffi, lib, path };
    } catch {
      // not there, or not Open MPI
    }
  }
  return { reason: `no Open MPI library found (tried ${tried.join(', ')}); ${INSTALL_HINT}`, tried };
}

/** The Open MPI library this process would use and its version, without joining a job. */
export function probeMpi(): { path: string; version: string } | { reason: string } {
  const found = findMpiLibrary();
  if ('reason' in found) return found;
  // MPI_Get_library_version may be called before MPI_Init
  const versionOf = found.lib.func(PROTOTYPES.MPI_Get_library_version) as Fn;
  return { path: found.path, version: libraryVersion(versionOf) };
}

function libraryVersion(getVersion: Fn): string {
  const text = new Uint8Array(8192), length = [0];
  getVersion(text, length);
  return new TextDecoder().decode(text.subarray(0, length[0])).split(',')[0]!.trim();
}

/** Loads Open MPI and initialises it (once per process). */
export function openMpi(): MpiProbe {
  const found = findMpiLibrary();
  if ('reason' in found) return found;
  const { koffi, lib, path } = found;
  const f = Object.fromEntries(Object.entries(PROTOTYPES).map(([name, proto]) => [name, lib.func(proto) as Fn])) as Record<keyof typeof PROTOTYPES, Fn>;
  const handle = (name: string) => lib.symbol(name, koffi.opaque());
  const world = handle('ompi_mpi_comm_world');
  const types: Record<MpiDType, Handle> = { float: handle('ompi_mpi_float'), int: handle('ompi_mpi_int'), byte: handle('ompi_mpi_unsigned_char') };
  const ops: Record<MpiOp, Handle> = { sum: handle('ompi_mpi_op_sum'), max: handle('ompi_mpi_op_max'), min: handle('ompi_mpi_op_min') };
  const check = (call: string, code: number) => {
    if (code === MPI_SUCCESS) return;
    const text = new Uint8Array(512), length = [0];
    f.MPI_Error_string(code, text, length);
    throw new TesseraError('distributed', `${call} failed (${code}): ${new TextDecoder().decode(text.subarray(0, length[0]))}`);
  };
  const initialized = [0], provided = [0];
  check('MPI_Initialized', f.MPI_Initialized(initialized));
  if (!initialized[0]) check('MPI_Init_thread', f.MPI_Init_thread(null, null, THREAD_MULTIPLE, provided));
  else check('MPI_Query_thread', f.MPI_Query_thread(provided));
  const threaded = provided[0]! >= THREAD_MULTIPLE;
  const rank = [0], size = [0];
  check('MPI_Comm_rank', f.MPI_Comm_rank(world, rank));
  check('MPI_Comm_size', f.MPI_Comm_size(world, size));
  const version = libraryVersion(f.MPI_Get_library_version);
  const request = () => [null] as unknown[];
  // memmove(p, p, 0) returns p: koffi passes a typed array's own bytes, so this is their address
  let startOf: Fn | null = null;
  try {
    startOf = koffi.load('libc.so.6').func('intptr_t memmove(void *dst, const void *src, size_t n)') as Fn;
  } catch {
    // not glibc: tensors travel through native buffers instead
  }
  /** `name` on a worker thread where MPI allows it, else here */
  const call = (name: 'MPI_Allreduce' | 'MPI_Bcast' | 'MPI_Allgather', ...args: unknown[]): Promise<void> => {
    const fn = f[name] as Fn & { async: (...a: unknown[]) => void };
    if (!threaded) return new Promise((resolve) => { check(name, fn(...args)); resolve(); });
    return new Promise((resolve, reject) => fn.async(...args, (err: Error | null, code: number) => {
      if (err) reject(err);
      else try { check(name, code); resolve(); } catch (e) { reject(e); }
    }));
  };
  return {
    mpi: {
      path, version, rank: rank[0]!, size: size[0]!,
      allocate(bytes) {
        const pointer = koffi.alloc('uint8_t', Math.max(1, bytes));
        return { pointer, address: koffi.address(pointer) as Address, bytes: koffi.view(pointer, Math.max(1, bytes)), free: () => koffi.free(pointer) };
      },
      allreduce: (send, recv, count, dtype, op) => call('MPI_Allreduce', send === recv ? MPI_IN_PLACE : send, recv, count, types[dtype], ops[op], world),
      bcast: (buffer, count, dtype, root) => call('MPI_Bcast', buffer, count, types[dtype], root, world),
      allgather: (send, recv, count, dtype) => call('MPI_Allgather', send, count, types[dtype], recv, count, types[dtype], world),
      addressOf: (array) => (startOf ? startOf(array, array, 0) as Address : null),
      iallgather(send, recv, count, dtype) {
        const r = request();
        check('MPI_Iallgather', f.MPI_Iallgather(send.pointer, count, types[dtype], recv.pointer, count, types[dtype], world, r));
        return r;
      },
      done(r) {
        const flag = [0];
        check('MPI_Test', f.MPI_Test(r, flag, null));
        return flag[0] !== 0;
      },
      finalize: () => check('MPI_Finalize', f.MPI_Finalize()),
    },
  };
}
