// NCCL for CUDA tensors, loaded at run time like the CUDA libraries (TESSERA_NCCL_LIBRARY, the
// CUDA search path, which holds Python's nvidia-nccl-* wheels, then the loader's own path). One
// communicator per job: rank 0 makes the 128-byte unique id, MPI carries it to every rank, and
// each passes it by value to ncclCommInitRank. The gradient buckets' sums are queued on a stream
// of their own (buckets.ts), beside the compute stream's backward, with device-side waits between
// the two: the host never waits for them.
import { TesseraError } from '../core/errors.js';
import { env } from '../core/platform.js';
import { nodeHost, searchPath } from '../backends/cuda/discover.js';
import { type Koffi, keepLoaded, loadKoffi } from '../core/ffi.js';

type Fn = (...args: unknown[]) => number;

const LIBRARY = 'libnccl.so.2';
const PROTOTYPES = {
  ncclGetVersion: 'int ncclGetVersion(_Out_ int *version)',
  ncclGetErrorString: 'const char *ncclGetErrorString(int result)',
  ncclGetUniqueId: 'int ncclGetUniqueId(_Out_ ncclUniqueId *id)',
  ncclCommInitRank: 'int ncclCommInitRank(_Out_ void **comm, int nranks, ncclUniqueId id, int rank)',
  ncclAllReduce: 'int ncclAllReduce(uint64_t send, uint64_t recv, size_t count, int dtype, int op, void *comm, void *stream)',
  ncclCommDestroy: 'int ncclCommDestroy(void *comm)',
} as const;
/** ncclFloat32, ncclSum: the only ones the gradient path needs */
const NCCL_FLOAT32 = 7, NCCL_SUM = 0;

export interface NcclLibrary { path: string; version: string }

/** Where libnccl.so.2 may be, in order. */
function candidates(): string[] {
  const given = env('TESSERA_NCCL_LIBRARY');
  if (given) return [given];
  const host = nodeHost();
  return [...searchPath(host).filter((dir) => host.listDir(dir).includes(LIBRARY)).map((dir) => `${dir}/${LIBRARY}`), LIBRARY];
}

function load(): { koffi: Koffi; f: Record<keyof typeof PROTOTYPES, Fn>; path: string } | { reason: string } {
  let koffi: Koffi;
  try {
    koffi = loadKoffi();
  } catch {
    return { reason: 'NCCL needs Node.js and the koffi package' };
  }
  const tried: string[] = [];
  for (const path of candidates()) {
    tried.push(path);
    try {
      const lib = koffi.load(path);
      try {
        koffi.struct('ncclUniqueId', { internal: koffi.array('uint8_t', 128, 'Typed') });
      } catch {
        // declared by an earlier load
      }
      const f = Object.fromEntries(Object.entries(PROTOTYPES).map(([name, proto]) => [name, lib.func(proto) as Fn])) as Record<keyof typeof PROTOTYPES, Fn>;
      keepLoaded(koffi, path);
      return { koffi, f, path };
    } catch {
      // not there, or not NCCL
    }
  }
  return { reason: `no NCCL library found (tried ${tried.join(', ')}); install NCCL (\`pip install nvidia-nccl-cu12\`, or NVIDIA's libnccl2 package), or set TESSERA_NCCL_LIBRARY to its libnccl.so.2` };
}

const versionText = (code: number) => `${Math.floor(code / 10000)}.${Math.floor(code / 100) % 100}.${code % 100}`;

/** The NCCL this process would use and its version, without making a communicator. */
export function probeNccl(): NcclLibrary | { reason: string } {
  const found = load();
  if ('reason' in found) return found;
  const v = [0];
  found.f.ncclGetVersion(v);
  return { path: found.path, version: versionText(v[0]!) };
}

export interface NcclComm extends NcclLibrary {
  /** Sums `count` floats at device address `send` over the ranks into `recv` (the same address: in place), queued on `stream`. */
  allReduceSum(send: bigint, recv: bigint, count: number, stream: unknown): void;
  destroy(): void;
}

/**
 * The job's communicator: `shareId` gives every rank rank 0's id (over MPI), and every rank
 * must call this at the same point.
 */
export async function openNccl(rank: number, size: number, shareId: (id: Uint8Array | null) => Promise<Uint8Array>): Promise<NcclComm> {
  const found = load();
  if ('reason' in found) throw new TesseraError('distributed', found.reason);
  const { f, path } = found;
  const check = (call: string, code: number) => {
    if (code !== 0) throw new TesseraError('distributed', `${call} failed (${code}): ${f.ncclGetErrorString(code) as unknown as string} (NCCL: ${path})`);
  };
  const version = [0];
  check('ncclGetVersion', f.ncclGetVersion(version));
  let mine: Uint8Array | null = null;
  if (rank === 0) {
    const id = { internal: new Uint8Array(128) };
    check('ncclGetUniqueId', f.ncclGetUniqueId(id));
    mine = id.internal;
  }
  const id = await shareId(mine);
  const comm = [null];
  check('ncclCommInitRank', f.ncclCommInitRank(comm, size, { internal: id }, rank));
  return {
    path, version: versionText(version[0]!),
    allReduceSum: (send, recv, count, stream) => check('ncclAllReduce', f.ncclAllReduce(send, recv, count, NCCL_FLOAT32, NCCL_SUM, comm[0], stream)),
    destroy: () => check('ncclCommDestroy', f.ncclCommDestroy(comm[0])),
  };
}
