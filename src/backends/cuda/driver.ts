// The CUDA driver API, NVRTC and cuBLAS, bound at run time through koffi. Every call's status
// is checked; a failure is a TesseraError naming the call, the status and its meaning.
import { TesseraError } from '../../core/errors.js';
import { nodeBuiltin } from '../../core/platform.js';
import type { DType } from '../../core/dtype.js';
import type { CudaDiscovery } from './discover.js';
import { type Koffi, keepLoaded, loadKoffi } from '../../core/ffi.js';

type Fn = (...args: unknown[]) => unknown;

function cudaKoffi(): Koffi {
  const m = nodeBuiltin('module');
  if (!m) throw new TesseraError('cuda', 'CUDA needs Node.js (it loads libcuda through the koffi FFI)');
  return loadKoffi();
}

/** Binds C prototypes from one library; a missing symbol is an error naming the file. */
export function bind(koffi: Koffi, path: string, prototypes: Record<string, string>): Record<string, Fn> {
  const lib = koffi.load(path);
  const out: Record<string, Fn> = {};
  for (const [name, proto] of Object.entries(prototypes)) {
    try {
      out[name] = lib.func(proto) as Fn;
    } catch (e) {
      throw new TesseraError('cuda', `${path} lacks ${name} (${(e as Error).message}); is it CUDA 12 or newer?`);
    }
  }
  keepLoaded(koffi, path);
  return out;
}

const DRIVER = {
  cuInit: 'int cuInit(unsigned int flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(_Out_ int *version)',
  cuDeviceGetCount: 'int cuDeviceGetCount(_Out_ int *count)',
  cuDeviceGet: 'int cuDeviceGet(_Out_ int *device, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(_Out_ uint8_t *name, int len, int dev)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(_Out_ int *value, int attrib, int dev)',
  cuDeviceTotalMem_v2: 'int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)',
  cuDevicePrimaryCtxRelease_v2: 'int cuDevicePrimaryCtxRelease_v2(int dev)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(void *ctx)',
  cuMemGetInfo_v2: 'int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)',
  cuMemAlloc_v2: 'int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)',
  cuMemFree_v2: 'int cuMemFree_v2(uint64_t dptr)',
  cuMemHostAlloc: 'int cuMemHostAlloc(_Out_ void **host, size_t bytes, unsigned int flags)',
  cuMemFreeHost: 'int cuMemFreeHost(void *host)',
  cuMemcpyHtoDAsync_v2: 'int cuMemcpyHtoDAsync_v2(uint64_t dst, void *src, size_t bytes, void *stream)',
  cuMemcpyDtoHAsync_v2: 'int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream)',
  cuStreamCreate: 'int cuStreamCreate(_Out_ void **stream, unsigned int flags)',
  cuStreamSynchronize: 'int cuStreamSynchronize(void *stream)',
  cuEventCreate: 'int cuEventCreate(_Out_ void **event, unsigned int flags)',
  cuEventRecord: 'int cuEventRecord(void *event, void *stream)',
  cuStreamWaitEvent: 'int cuStreamWaitEvent(void *stream, void *event, unsigned int flags)',
  cuEventQuery: 'int cuEventQuery(void *event)',
  cuEventSynchronize: 'int cuEventSynchronize(void *event)',
  cuEventElapsedTime: 'int cuEventElapsedTime(_Out_ float *ms, void *start, void *end)',
  cuEventDestroy_v2: 'int cuEventDestroy_v2(void *event)',
  cuModuleLoadData: 'int cuModuleLoadData(_Out_ void **module, const void *image)',
  cuModuleGetFunction: 'int cuModuleGetFunction(_Out_ void **fn, void *module, const char *name)',
  cuLaunchKernel: 'int cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared, void *stream, void *params, void *extra)',
  cuGetErrorString: 'int cuGetErrorString(int status, _Out_ const char **text)',
  cuStreamBeginCapture_v2: 'int cuStreamBeginCapture_v2(void *stream, int mode)',
  cuStreamEndCapture: 'int cuStreamEndCapture(void *stream, _Out_ void **graph)',
  cuGraphInstantiateWithFlags: 'int cuGraphInstantiateWithFlags(_Out_ void **exec, void *graph, unsigned long long flags)',
  cuGraphLaunch: 'int cuGraphLaunch(void *exec, void *stream)',
  cuGraphExecDestroy: 'int cuGraphExecDestroy(void *exec)',
  cuGraphDestroy: 'int cuGraphDestroy(void *graph)',
} as const;

const NVRTC = {
  nvrtcVersion: 'int nvrtcVersion(_Out_ int *major, _Out_ int *minor)',
  nvrtcCreateProgram: 'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, void *headers, void *includeNames)',
  nvrtcCompileProgram: 'int nvrtcCompileProgram(void *prog, int numOptions, const char **options)',
  nvrtcGetProgramLogSize: 'int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)',
  nvrtcGetProgramLog: 'int nvrtcGetProgramLog(void *prog, _Out_ uint8_t *log)',
  nvrtcGetCUBINSize: 'int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)',
  nvrtcGetCUBIN: 'int nvrtcGetCUBIN(void *prog, _Out_ uint8_t *cubin)',
  nvrtcDestroyProgram: 'int nvrtcDestroyProgram(_Inout_ void **prog)',
  nvrtcGetErrorString: 'const char *nvrtcGetErrorString(int status)',
} as const;

const CUBLAS = {
  cublasCreate_v2: 'int cublasCreate_v2(_Out_ void **handle)',
  cublasDestroy_v2: 'int cublasDestroy_v2(void *handle)',
  cublasSetStream_v2: 'int cublasSetStream_v2(void *handle, void *stream)',
  cublasGetVersion_v2: 'int cublasGetVersion_v2(void *handle, _Out_ int *version)',
  cublasGemmStridedBatchedEx: 'int cublasGemmStridedBatchedEx(void *handle, int transa, int transb, int m, int n, int k, const float *alpha, uint64_t a, int atype, int lda, int64_t strideA, uint64_t b, int btype, int ldb, int64_t strideB, const float *beta, uint64_t c, int ctype, int ldc, int64_t strideC, int batch, int computeType, int algo)',
} as const;

/** cudaDataType_t of each dtype cuBLAS multiplies (library_types.h: CUDA_R_32F 0, CUDA_R_16F 2, CUDA_R_16BF 14). */
export const CUDA_DATA_TYPE: Partial<Record<DType, number>> = { float32: 0, float16: 2, bfloat16: 14 };
export const CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77, CUBLAS_GEMM_DEFAULT = -1;
export const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
const CUDA_ERROR_OUT_OF_MEMORY = 2;
/** cuEventCreate's flag for an event used only for ordering: no timestamps to take */
export const CU_EVENT_DISABLE_TIMING = 2;

export class CudaDriver {
  readonly koffi: Koffi;
  readonly cu: Record<keyof typeof DRIVER, Fn>;
  readonly nvrtc: Record<keyof typeof NVRTC, Fn>;
  readonly cublas: Record<keyof typeof CUBLAS, Fn>;

  constructor(readonly libraries: Required<Pick<CudaDiscovery['found'], 'cuda' | 'nvrtc' | 'cublas'>>) {
    this.koffi = cudaKoffi();
    this.cu = bind(this.koffi, libraries.cuda.path, DRIVER) as Record<keyof typeof DRIVER, Fn>;
    this.nvrtc = bind(this.koffi, libraries.nvrtc.path, NVRTC) as Record<keyof typeof NVRTC, Fn>;
    this.cublas = bind(this.koffi, libraries.cublas.path, CUBLAS) as Record<keyof typeof CUBLAS, Fn>;
  }

  /** Calls a driver function and throws on a non-zero status. */
  check(name: keyof typeof DRIVER, ...args: unknown[]): void {
    const status = this.cu[name](...args) as number;
    if (status !== 0) {
      const text: (string | null)[] = [null];
      this.cu.cuGetErrorString(status, text);
      throw new TesseraError('cuda', `${name} failed with status ${status}${text[0] ? ` (${text[0]})` : ''}`);
    }
  }

  checkBlas(name: keyof typeof CUBLAS, ...args: unknown[]): void {
    const status = this.cublas[name](...args) as number;
    if (status !== 0) throw new TesseraError('cuda', `${name} failed with cuBLAS status ${status}`);
  }

  /** A driver call that returns its status for the caller to interpret (allocation). */
  status(name: keyof typeof DRIVER, ...args: unknown[]): number {
    return this.cu[name](...args) as number;
  }

  static readonly OUT_OF_MEMORY = CUDA_ERROR_OUT_OF_MEMORY;

  /** Compiles CUDA C to a cubin for `arch` (e.g. 'sm_90'); a failure carries NVRTC's log. */
  compile(source: string, name: string, arch: string): Uint8Array {
    const progOut: unknown[] = [null];
    this.nvrtcCheck('nvrtcCreateProgram', progOut, source, `${name}.cu`, 0, null, null);
    const prog = progOut[0];
    try {
      const options = [`--gpu-architecture=${arch}`, '--std=c++17'];
      const status = this.nvrtc.nvrtcCompileProgram(prog, options.length, options) as number;
      if (status !== 0) {
        const numbered = source.split('\n').map((l, i) => `${String(i + 1).padStart(4)}: ${l}`).join('\n');
        throw new TesseraError('cuda', `kernel '${name}' failed to compile (NVRTC status ${status}):\n${this.log(prog)}\n${numbered}`);
      }
      const size: number[] = [0];
      this.nvrtcCheck('nvrtcGetCUBINSize', prog, size);
      const cubin = new Uint8Array(size[0]!);
      this.nvrtcCheck('nvrtcGetCUBIN', prog, cubin);
      return cubin;
    } finally {
      this.nvrtc.nvrtcDestroyProgram([prog]);
    }
  }

  private log(prog: unknown): string {
    const size: number[] = [0];
    this.nvrtc.nvrtcGetProgramLogSize(prog, size);
    const bytes = new Uint8Array(size[0]!);
    this.nvrtc.nvrtcGetProgramLog(prog, bytes);
    return new TextDecoder().decode(bytes.subarray(0, Math.max(0, bytes.length - 1)));
  }

  private nvrtcCheck(name: keyof typeof NVRTC, ...args: unknown[]): void {
    const status = this.nvrtc[name](...args) as number;
    if (status !== 0) throw new TesseraError('cuda', `${name} failed: ${this.nvrtc.nvrtcGetErrorString(status)}`);
  }
}
