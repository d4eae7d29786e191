// The cuda device: NVIDIA GPUs through whatever CUDA 12 or 13 driver and libraries are
// installed, found and loaded at run time (no compile step, no pinned CUDA version).
import { type DType, type TypedArray, allocArray, bytesPerElement, isHalf } from '../../core/dtype.js';
import { halfBits, halfValues } from '../../core/half.js';
import type { Expr } from '../../core/expr.js';
import { env } from '../../core/platform.js';
import type { Backend, CapturedCall, DeviceInfo, IndexError, KernelTimer, RandomKind, RandomState, ReduceKind, Replayer, Storage, View, WindowGeometry } from '../backend.js';
import { cudaReplayer } from './replay.js';
import { type CudaDiscovery, discoverCuda } from './discover.js';
import { CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, CudaDriver } from './driver.js';
import { type GemmLibraries, type MatmulPrecision, matmul } from './gemm.js';
import { LtGemm } from './gemm-lt.js';
import * as L from './launch.js';
import { CudaIndexChecks } from './index-check.js';
import { CudaRuntime } from './runtime.js';
import { launchInfo } from '../../distributed/launcher.js';

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  readonly timer: KernelTimer;
  /** float32 products: TF32 tensor cores by default; 'highest' keeps full float32 */
  precision: MatmulPrecision;
  private readonly gemm: GemmLibraries;
  private readonly details: Record<string, string | number>;
  private readonly indexChecks: CudaIndexChecks;
  private readonly flagWords = new Uint32Array(4);

  constructor(readonly runtime: CudaRuntime, libraries: CudaDiscovery['found']) {
    const d = runtime.driver;
    this.timer = runtime.timer;
    this.indexChecks = new CudaIndexChecks(runtime);
    this.precision = env('TESSERA_CUDA_PRECISION') === 'highest' ? 'highest' : 'tf32';
    const handle: unknown[] = [null];
    d.checkBlas('cublasCreate_v2', handle);
    d.checkBlas('cublasSetStream_v2', handle[0], runtime.stream);
    const lt = libraries.cublasLt && env('TESSERA_CUDA_GEMM') !== 'cublas' ? openLt(d, libraries.cublasLt.path) : null;
    this.gemm = { blas: handle[0], lt: lt instanceof LtGemm ? lt : null };
    const version = (f: (out: number[]) => void) => { const v = [0]; f(v); return v[0]!; };
    const driverVersion = version((v) => d.check('cuDriverGetVersion', v));
    const nvrtc = [0], nvrtcMinor = [0];
    d.nvrtc.nvrtcVersion(nvrtc, nvrtcMinor);
    const name = new Uint8Array(256);
    d.check('cuDeviceGetName', name, name.length, runtime.device);
    const total = [0];
    d.check('cuDeviceTotalMem_v2', total, runtime.device);
    this.details = {
      name: new TextDecoder().decode(name.subarray(0, name.indexOf(0))),
      computeCapability: runtime.arch.replace('sm_', '').replace(/^(\d+)(\d)$/, '$1.$2'),
      multiprocessors: runtime.attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
      memoryBytes: total[0]!,
      driver: `${Math.floor(driverVersion / 1000)}.${(driverVersion % 1000) / 10}`,
      nvrtc: `${nvrtc[0]}.${nvrtcMinor[0]} (${libraries.nvrtc!.path})`,
      cublas: `${version((v) => d.checkBlas('cublasGetVersion_v2', this.gemm.blas, v))} (${libraries.cublas!.path})`,
      cublasLt: lt instanceof LtGemm ? `${lt.version} (${lt.path})` : lt ?? (libraries.cublasLt ? 'off (TESSERA_CUDA_GEMM=cublas)' : 'not found: products use cuBLAS'),
      libcuda: libraries.cuda!.path,
    };
  }

  info(): DeviceInfo {
    return {
      name: 'cuda', kind: 'gpu', software: false, matmulPrecision: this.precision === 'tf32' ? 'tf32' : 'float32', description: `${this.details['name']} (CUDA, compute ${this.details['computeCapability']})`,
      details: { ...this.details, matmulPrecision: this.precision, reservedBytes: this.runtime.bytesReserved, usedBytes: this.runtime.bytesInUse, pinnedBytes: this.runtime.bytesPinned },
    };
  }

  release(): void {
    this.runtime.synchronize();
    this.gemm.lt?.close(this.runtime);
    this.runtime.driver.checkBlas('cublasDestroy_v2', this.gemm.blas);
    this.runtime.close();
  }

  reservedBytes(): number { return this.runtime.bytesReserved; }
  alloc(dtype: DType, size: number): Storage {
    const bytes = size * bytesPerElement(dtype);
    return new L.CudaStorage(dtype, size, this.runtime.alloc(bytes), bytes);
  }
  free(storage: Storage): void {
    const s = storage as L.CudaStorage;
    this.runtime.release(s.ptr, s.bytes);
  }
  write(storage: Storage, data: TypedArray): void {
    const s = storage as L.CudaStorage;
    // half formats arrive as float32 values and are stored as their 16-bit patterns
    const raw = isHalf(s.dtype) ? halfBits(s.dtype, data) : data;
    const bytes = Math.min(s.bytes, raw.byteLength);
    if (bytes > 0) this.runtime.upload(s.ptr, raw, bytes);
  }
  async read(storage: Storage): Promise<TypedArray> {
    return this.readSync(storage);
  }
  /** The copy back synchronises the stream anyway, so CUDA reads can be synchronous (dataSync, item, to). */
  readSync(storage: Storage): TypedArray {
    const s = storage as L.CudaStorage;
    const raw = isHalf(s.dtype) ? new Uint16Array(s.size) : allocArray(s.dtype, s.size);
    if (s.bytes > 0) this.runtime.driver.check('cuMemcpyDtoHAsync_v2', raw, s.ptr, raw.byteLength, this.runtime.stream);
    const checked = this.indexChecks.queueRead(this.flagWords);
    this.runtime.synchronize();
    if (checked) this.indexChecks.settle(this.flagWords);
    return isHalf(s.dtype) ? halfValues(s.dtype, raw as Uint16Array) : (raw as TypedArray);
  }

  elementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], params?: readonly number[]): void {
    L.elementwise(this.runtime, exprs, inputs, outs, params);
  }
  reduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, params?: readonly number[]): void {
    L.reduce(this.runtime, kind, expr, inputs, axes, out, params);
  }
  matmul(a: View, b: View, out: View): void { matmul(this.runtime, this.gemm, this.precision, a, b, out); }
  im2col(x: View, out: View, g: WindowGeometry): void { L.im2col(this.runtime, x, out, g); }
  col2im(cols: View, out: View, g: WindowGeometry): void { L.col2im(this.runtime, cols, out, g); }
  pool2d(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void { L.pool2d(this.runtime, kind, x, out, g, argmax); }
  pool2dBackward(kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
    L.pool2dBackward(this.runtime, kind, gradOut, gradIn, g, argmax);
  }
  gather(x: View, indices: View, out: View): void { L.gather(this.runtime, x, indices, out); }
  scatterAdd(src: View, indices: View, out: View): void { L.scatterAdd(this.runtime, src, indices, out); }
  checkIndices(indices: View, limit: number, error: IndexError): void { this.indexChecks.check(indices, limit, error); }
  random(kind: RandomKind, out: View, [seed, counter]: RandomState): void { L.random(this.runtime, kind, seed, counter, out); }
  /** CUDA graphs of the step's launches and products (see replay.ts). */
  replayer(calls: readonly CapturedCall[]): Replayer { return cudaReplayer(this, this.runtime, calls); }
}

/** cuBLASLt, or why it is not used (products then go to cuBLAS). */
function openLt(driver: CudaDriver, path: string): LtGemm | string {
  try {
    return new LtGemm(driver, path);
  } catch (e) {
    return `unusable: ${(e as Error).message}; products use cuBLAS`;
  }
}

/** Finds CUDA, opens GPU 0 (or TESSERA_CUDA_DEVICE), or says what is missing and where it looked. */
export function createCudaBackend(): CudaBackend | { reason: string } {
  const found = discoverCuda();
  const missing = (['cuda', 'nvrtc', 'cublas'] as const).filter((k) => !found.found[k]);
  if (missing.length) {
    const what = missing.map((m) => ({ cuda: 'the NVIDIA driver (libcuda.so.1)', nvrtc: 'NVRTC (libnvrtc.so.12/13)', cublas: 'cuBLAS (libcublas.so.12/13)' })[m]).join(', ');
    return { reason: `${what} not found; searched TESSERA_CUDA_PATH, CUDA_PATH, CUDA_HOME, LD_LIBRARY_PATH, the ldconfig cache, /usr/local/cuda* and Python's nvidia-* wheels (${found.searched.length} folders). Install the NVIDIA driver and a CUDA 12/13 toolkit, or \`pip install nvidia-cublas-cu12 nvidia-cuda-nvrtc-cu12\`` };
  }
  try {
    const driver = new CudaDriver(found.found as Required<Pick<CudaDiscovery['found'], 'cuda' | 'nvrtc' | 'cublas'>>);
    const status = driver.status('cuInit', 0);
    if (status !== 0) return { reason: `cuInit failed with status ${status} (${status === 100 ? 'no CUDA-capable GPU' : 'driver problem'}); libcuda: ${found.found.cuda!.path}` };
    const devices = [0];
    driver.check('cuDeviceGetCount', devices);
    if (devices[0] === 0) return { reason: 'the NVIDIA driver sees no GPU' };
    // one GPU per process of a job: local rank k takes GPU k (of those this process sees)
    const ordinal = Number(env('TESSERA_CUDA_DEVICE') ?? launchInfo().localRank % devices[0]!);
    const dev = [0];
    driver.check('cuDeviceGet', dev, ordinal);
    return new CudaBackend(new CudaRuntime(driver, dev[0]!), found.found);
  } catch (e) {
    return { reason: (e as Error).message };
  }
}
