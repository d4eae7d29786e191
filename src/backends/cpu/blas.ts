// Finds a system BLAS at run time through koffi and exposes cblas_sgemm; no compiler needed.
import { env, nodeBuiltin } from '../../core/platform.js';
import { processesOnThisMachine } from '../../distributed/launcher.js';
import { type Koffi, keepLoaded, loadKoffi } from '../../core/ffi.js';

const ROW_MAJOR = 101;
export const NO_TRANS = 111;
export const TRANS = 112;

export type Sgemm = (
  transA: number, transB: number, m: number, n: number, k: number,
  alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number,
  beta: number, c: Float32Array, ldc: number,
) => void;

export interface BlasLibrary {
  readonly path: string;
  readonly vendor: string;
  readonly sgemm: Sgemm;
  /** threads the library may use (OpenBLAS only), so small products can stay on one core */
  readonly setThreads?: (n: number) => void;
  readonly maxThreads: number;
}

export interface BlasProbe {
  readonly library: BlasLibrary | null;
  readonly tried: readonly string[];
  readonly reason?: string;
}

/** Where BLAS usually lives, fastest first; the dynamic loader resolves bare names. */
function candidates(): string[] {
  const fromEnv = env('TESSERA_BLAS');
  const list = fromEnv ? [fromEnv] : [];
  if (process.platform === 'darwin') {
    list.push('/System/Library/Frameworks/Accelerate.framework/Accelerate', 'libopenblas.dylib', '/opt/homebrew/opt/openblas/lib/libopenblas.dylib', '/usr/local/opt/openblas/lib/libopenblas.dylib');
  } else if (process.platform === 'win32') {
    list.push('libopenblas.dll', 'openblas.dll', 'mkl_rt.2.dll', 'mkl_rt.dll');
  } else {
    const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
    list.push(
      'libopenblas.so.0', 'libopenblas.so',
      `/usr/lib/${arch}/openblas-pthread/libopenblas.so.0`, `/usr/lib/${arch}/openblas-openmp/libopenblas.so.0`,
      `/usr/lib/${arch}/openblas-serial/libopenblas.so.0`, '/usr/lib64/libopenblas.so.0', '/usr/lib/libopenblas.so.0',
      'libmkl_rt.so.2', 'libmkl_rt.so', 'libblis.so.4', 'libblis.so', 'libcblas.so.3', 'libblas.so.3',
    );
  }
  return list;
}

function vendorOf(path: string): string {
  const p = path.toLowerCase();
  if (p.includes('openblas')) return 'OpenBLAS';
  if (p.includes('mkl')) return 'MKL';
  if (p.includes('blis')) return 'BLIS';
  if (p.includes('accelerate')) return 'Accelerate';
  return 'BLAS';
}

let probed: BlasProbe | undefined;

/** Loads the first BLAS that exports cblas_sgemm; TESSERA_BLAS=none forces the built-in GEMM. */
export function probeBlas(): BlasProbe {
  if (probed) return probed;
  if (env('TESSERA_BLAS') === 'none') return (probed = { library: null, tried: [], reason: 'disabled by TESSERA_BLAS=none' });
  const nodeModule = nodeBuiltin('module');
  if (!nodeModule) return (probed = { library: null, tried: [], reason: 'no FFI outside Node.js (browsers use the built-in GEMM)' });
  let koffi: Koffi;
  try {
    koffi = loadKoffi();
  } catch (e) {
    return (probed = { library: null, tried: [], reason: `the koffi FFI package could not be loaded (${(e as Error).message})` });
  }
  const tried: string[] = [];
  for (const path of candidates()) {
    tried.push(path);
    try {
      const lib = koffi.load(path);
      const fn = lib.func('void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, _Inout_ float *c, int ldc)');
      const sgemm: Sgemm = (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =>
        fn(ROW_MAJOR, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      let setThreads: ((n: number) => void) | undefined;
      let maxThreads = 1;
      try {
        setThreads = lib.func('void openblas_set_num_threads(int n)') as (n: number) => void;
        maxThreads = (lib.func('int openblas_get_num_threads()') as () => number)();
        maxThreads = threadsPerProcess(maxThreads);
      } catch {
        // not OpenBLAS: the library manages its own threads
      }
      keepLoaded(koffi, path);
      return (probed = { library: { path, vendor: vendorOf(path), sgemm, setThreads, maxThreads }, tried });
    } catch {
      // not here or no cblas_sgemm: try the next one
    }
  }
  return (probed = { library: null, tried, reason: 'no library exporting cblas_sgemm was found' });
}

/**
 * BLAS threads for this process out of the library's `available`: processes of a job on one
 * machine split its cores (as torchrun gives each one thread), unless the threads were chosen.
 */
export function threadsPerProcess(available: number): number {
  if (env('OPENBLAS_NUM_THREADS') || env('OMP_NUM_THREADS')) return available;
  return Math.max(1, Math.floor(available / processesOnThisMachine()));
}

/**
 * Below this many multiply-adds a product runs on one thread: waking OpenBLAS's other threads
 * costs more than they save (measured on 2-core machines for the Fashion-MNIST shapes).
 */
const PARALLEL_MIN_WORK = 8 * 1024 * 1024;
/**
 * A product with a dimension this thin is bound by memory, not arithmetic, and OpenBLAS's
 * split across threads makes it slower (a one-channel 3x3 convolution, k = 9: 0.67 ms on one
 * thread, 1.1 ms on two).
 */
const PARALLEL_MIN_DIM = 16;
let currentThreads = -1;

/** Threads for a product of m x k by k x n (batch folded into m). */
export function useThreadsFor(lib: BlasLibrary, m: number, n: number, k: number): void {
  if (!lib.setThreads) return;
  const want = m * n * k < PARALLEL_MIN_WORK || Math.min(m, n, k) < PARALLEL_MIN_DIM ? 1 : lib.maxThreads;
  if (want !== currentThreads) {
    lib.setThreads(want);
    currentThreads = want;
  }
}

export const BLAS_HINT =
  'install a BLAS for the fast path: `apt install libopenblas0-pthread` (Debian/Ubuntu), `dnf install openblas` (Fedora), ' +
  '`brew install openblas` (macOS uses Accelerate already), or set TESSERA_BLAS to the library path';
