// MPI through koffi, loaded at run time (Open MPI, or the MPICH family: mpi-abi.ts tells their
// handles apart), on native buffers that stay put until a collective completes. The data
// collectives are MPI's blocking ones (its tuned algorithms: Open MPI's nonblocking ones run 1.6x
// slower here), called on this thread, as PyTorch's are by default: a worker thread costs ~7 us a
// trip, and 30% of a 16 MB allreduce in page faults (glibc gives it an arena of its own, which MPI's
// scratch buffers keep shrinking and growing). Only an allreduce that should overlap work still to
// come on this thread (eager backward, where a core is free for it) runs on a worker
// (MPI_THREAD_MULTIPLE). Every rank has
// already passed the check that they all made the same call (a small nonblocking allgather,
// polled with MPI_Test, so a rank that never comes is a timeout), so a blocking call cannot wait
// on a rank that is not coming, unless it dies, and then its launcher ends the job.
import { TesseraError } from '../core/errors.js';
import { env } from '../core/platform.js';
import { launchInfo } from './launcher.js';
import { MPI_ABIS, type MpiAbi } from './mpi-abi.js';
import { type Koffi, keepLoaded, loadKoffi, workerStacksSized } from '../core/ffi.js';

type Fn = (...args: unknown[]) => number;

const MPI_SUCCESS = 0;
/** MPI_THREAD_MULTIPLE: any thread may call MPI (the collectives run on koffi's worker threads) */
const THREAD_MULTIPLE = 3;
/** A background allreduce this small runs here all the same: the trip would cost what it saves. */
const MAIN_THREAD_BYTES = 256 << 10;
const BYTES: Record<MpiDType, number> = { float: 4, int: 4, byte: 1 };

/**
 * The ABIs to try: mpirun's and mpiexec's processes can only join their own MPI; under Slurm (or
 * with no launcher) either may be the one, Open MPI first.
 */
function abisToTry(): readonly MpiAbi[] {
  const launcher = launchInfo().launcher;
  const own = MPI_ABIS.filter((abi) => abi.name === launcher);
  return own.length ? own : MPI_ABIS;
}

/** What to install, for the MPI the launcher belongs to. */
function installHint(): string {
  return `install ${abisToTry().map((abi) => abi.install).join(' or ')}, or set TESSERA_MPI_LIBRARY to its library`;
}

/** The calls tessera makes, written for an ABI's handle and request types. */
function prototypes(abi: MpiAbi) {
  const H = abi.handle;
  return {
    MPI_Initialized: 'int MPI_Initialized(_Out_ int *flag)',
    MPI_Query_thread: 'int MPI_Query_thread(_Out_ int *provided)',
    MPI_Init_thread: 'int MPI_Init_thread(void *argc, void *argv, int required, _Out_ int *provided)',
    MPI_Finalize: 'int MPI_Finalize()',
    MPI_Comm_rank: `int MPI_Comm_rank(${H} comm, _Out_ int *rank)`,
    MPI_Comm_size: `int MPI_Comm_size(${H} comm, _Out_ int *size)`,
    MPI_Get_library_version: LIBRARY_VERSION,
    MPI_Error_string: 'int MPI_Error_string(int code, _Out_ uint8_t *text, _Out_ int *length)',
    // the data collectives take addresses: of native buffers, of CPU tensors in the heap, or MPI_IN_PLACE
    MPI_Allreduce: `int MPI_Allreduce(intptr_t send, intptr_t recv, int count, ${H} dtype, ${H} op, ${H} comm)`,
    MPI_Bcast: `int MPI_Bcast(intptr_t buffer, int count, ${H} dtype, int root, ${H} comm)`,
    MPI_Allgather: `int MPI_Allgather(intptr_t send, int sendCount, ${H} sendType, intptr_t recv, int recvCount, ${H} recvType, ${H} comm)`,
    // the request and its flag live in a native slot: addresses cost koffi least to pass
    MPI_Iallgather: `int MPI_Iallgather(intptr_t send, int sendCount, ${H} sendType, intptr_t recv, int recvCount, ${H} recvType, ${H} comm, intptr_t request)`,
    MPI_Test: 'int MPI_Test(intptr_t request, intptr_t flag, intptr_t status)',
  } as const;
}
/** the same in every ABI, and callable before MPI_Init */
const LIBRARY_VERSION = 'int MPI_Get_library_version(_Out_ uint8_t *version, _Out_ int *length)';

export type MpiDType = 'float' | 'int' | 'byte';
export type MpiOp = 'sum' | 'max' | 'min';

/** A memory address (koffi gives numbers or bigints). */
export type Address = number | bigint;

/** A native buffer the collectives read and write, with a typed view over it. */
export interface NativeBuffer { readonly address: Address; readonly bytes: ArrayBuffer; free(): void }

export interface Mpi {
  readonly path: string;
  readonly version: string;
  readonly rank: number;
  readonly size: number;
  allocate(bytes: number): NativeBuffer;
  /**
   * In place when send is recv; each promise settles when this rank's part is done (FINISHED when
   * done on this thread). `background`: on a worker thread, so this one goes on meanwhile.
   */
  allreduce(send: Address, recv: Address, count: number, dtype: MpiDType, op: MpiOp, background?: boolean): Promise<void>;
  bcast(buffer: Address, count: number, dtype: MpiDType, root: number): Promise<void>;
  allgather(send: Address, recv: Address, count: number, dtype: MpiDType): Promise<void>;
  /** where a typed array's bytes start (for memory MPI may use in place: the CPU heap), or null where that cannot be told */
  addressOf(array: ArrayBufferView): Address | null;
  /** ms this thread has spent inside MPI's blocking data collectives (moving and summing data) */
  readonly blockedMs: number;
  /** nonblocking, for polling with done(); one at a time */
  iallgather(send: Address, recv: Address, count: number, dtype: MpiDType): void;
  /** whether the iallgather in flight has completed here */
  done(): boolean;
  finalize(): void;
}

/** What a collective made on the calling thread returns: it is over when the call returns. */
export const FINISHED: Promise<void> = Promise.resolve();

export type MpiProbe = { mpi: Mpi } | { reason: string };

/**
 * The first MPI library that loads and speaks an ABI tessera knows (RTLD_GLOBAL: its plugins
 * resolve symbols against it), with its version.
 */
export function findMpiLibrary(): { koffi: Koffi; lib: ReturnType<Koffi['load']>; path: string; abi: MpiAbi; version: string } | { reason: string } {
  let koffi: Koffi;
  try {
    koffi = loadKoffi();
  } catch {
    return { reason: 'MPI needs Node.js and the koffi package' };
  }
  keepUcxOffTheGarbageCollector();
  const given = env('TESSERA_MPI_LIBRARY'), arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  // each path tried, as the error shows it: one that loads but speaks another ABI with its version
  const tried = new Map<string, string>();
  for (const abi of abisToTry()) {
    for (const path of given ? [given] : abi.libraries(arch)) {
      let lib: ReturnType<Koffi['load']>;
      try {
        lib = koffi.load(path, { global: true });
      } catch {
        if (!tried.has(path)) tried.set(path, path);
        continue;
      }
      const version = libraryVersion(lib.func(LIBRARY_VERSION) as Fn);
      if (abi.speaks(koffi, lib, version)) {
        keepLoaded(koffi, path);
        return { koffi, lib, path, abi, version };
      }
      if (!tried.has(path)) tried.set(path, `${path} (${version}, not ${abi.name})`);
    }
  }
  return { reason: `no ${abisToTry().map((abi) => abi.name).join(' or ')} library found (tried ${[...tried.values()].join(', ')}); ${installHint()}` };
}

/**
 * UCX (MPICH's transport, Open MPI's on InfiniBand) hooks mmap and brk to follow memory it has
 * registered; in Node.js, whose garbage collector maps and unmaps its own memory, two MPICH ranks
 * crashed in V8 about 1 run in 75 with the hooks (0 in 600 without). Off, unless set already:
 * read when the library loads.
 */
function keepUcxOffTheGarbageCollector(): void {
  if (process.env['UCX_MEM_EVENTS'] === undefined) process.env['UCX_MEM_EVENTS'] = 'no';
}

/** The MPI library this process would use and its version, without joining a job. */
export function probeMpi(): { path: string; version: string } | { reason: string } {
  const found = findMpiLibrary();
  return 'reason' in found ? found : { path: found.path, version: found.version };
}

function libraryVersion(getVersion: Fn): string {
  const text = new Uint8Array(8192), length = [0];
  getVersion(text, length);
  // its first line, up to a comma: "Open MPI v4.1.4", "MPICH Version:\t4.0.2" (as "MPICH 4.0.2")
  return new TextDecoder().decode(text.subarray(0, length[0])).split(/[,\n]/)[0]!.replace(/\s*Version:\s*/, ' ').trim();
}

/** Loads MPI and initialises it (once per process). */
export function openMpi(): MpiProbe {
  const found = findMpiLibrary();
  if ('reason' in found) return found;
  const { koffi, lib, path, abi, version } = found;
  const f = Object.fromEntries(Object.entries(prototypes(abi)).map(([name, proto]) => [name, lib.func(proto) as Fn])) as Record<keyof ReturnType<typeof prototypes>, Fn>;
  const { world, types, ops } = abi.handles(koffi, lib);
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
  // MPICH's collectives overflow a worker's stack unless koffi was set up by loadKoffi
  const threaded = provided[0]! >= THREAD_MULTIPLE && workerStacksSized(koffi);
  const rank = [0], size = [0];
  check('MPI_Comm_rank', f.MPI_Comm_rank(world, rank));
  check('MPI_Comm_size', f.MPI_Comm_size(world, size));
  // the nonblocking call's MPI_Request (a pointer or an int: 8 bytes hold either) and MPI_Test's flag
  const slot = koffi.alloc('uint8_t', 16), request = Number(koffi.address(slot)), flag = new Int32Array(koffi.view(slot, 16), 8, 1);
  const flagAddress = request + 8;
  let inFlight = false;
  // memmove(p, p, 0) returns p: koffi passes a typed array's own bytes, so this is their address
  let startOf: Fn | null = null;
  try {
    startOf = koffi.load('libc.so.6').func('intptr_t memmove(void *dst, const void *src, size_t n)') as Fn;
  } catch {
    // not glibc: tensors travel through native buffers instead
  }
  let blockedMs = 0;
  /** `name` here (FINISHED, or it throws), or with `background` on a worker thread where MPI allows it and the call is large */
  const call = (name: 'MPI_Allreduce' | 'MPI_Bcast' | 'MPI_Allgather', background: boolean, ...args: unknown[]): Promise<void> => {
    const fn = f[name] as Fn & { async: (...a: unknown[]) => void };
    if (!background || !threaded) {
      const start = performance.now();
      const code = fn(...args);
      blockedMs += performance.now() - start;
      check(name, code);
      return FINISHED;
    }
    return new Promise((resolve, reject) => fn.async(...args, (err: Error | null, code: number) => {
      if (err) reject(err);
      else try { check(name, code); resolve(); } catch (e) { reject(e); }
    }));
  };
  return {
    mpi: {
      path, version, rank: rank[0]!, size: size[0]!,
      get blockedMs() { return blockedMs; },
      allocate(bytes) {
        const pointer = koffi.alloc('uint8_t', Math.max(1, bytes));
        return { address: koffi.address(pointer) as Address, bytes: koffi.view(pointer, Math.max(1, bytes)), free: () => koffi.free(pointer) };
      },
      allreduce: (send, recv, count, dtype, op, background = false) => call('MPI_Allreduce', background && count * BYTES[dtype] > MAIN_THREAD_BYTES, send === recv ? abi.inPlace : send, recv, count, types[dtype], ops[op], world),
      bcast: (buffer, count, dtype, root) => call('MPI_Bcast', false, buffer, count, types[dtype], root, world),
      allgather: (send, recv, count, dtype) => call('MPI_Allgather', false, send, count, types[dtype], recv, count, types[dtype], world),
      addressOf: (array) => (startOf ? startOf(array, array, 0) as Address : null),
      iallgather(send, recv, count, dtype) {
        check('MPI_Iallgather', f.MPI_Iallgather(send, count, types[dtype], recv, count, types[dtype], world, request));
        inFlight = true;
      },
      done() {
        // before the first call the slot holds no request at all (MPI_Test would crash on it)
        if (!inFlight) return true;
        check('MPI_Test', f.MPI_Test(request, flagAddress, abi.statusIgnore));
        inFlight = flag[0] === 0;
        return !inFlight;
      },
      finalize: () => check('MPI_Finalize', f.MPI_Finalize()),
    },
  };
}
