// The webgpu device: every primitive as a WGSL kernel, queued without waiting; reading a
// tensor is the only sync point.
import { type DType, type TypedArray, isFloat, isHalf } from '../../core/dtype.js';
import { roundHalfArray } from '../../core/half.js';
import { roundWidenedProduct } from '../widened-half.js';
import type { Expr } from '../../core/expr.js';
import type { Backend, CapturedCall, DeviceInfo, IndexError, KernelTimer, RandomKind, RandomState, ReduceKind, Replayer, Storage, View, WindowGeometry } from '../backend.js';
import { webgpuReplayer } from './replay.js';
import * as fixed from './kernels-fixed.js';
import { elementwise, reduce } from './kernels-fused.js';
import { GpuIndexChecks } from './index-check.js';
import { GpuRuntime } from './runtime.js';
import { GpuStorage, bufferOf } from './storage.js';

/** Software rasterisers that WebGPU may offer as an adapter (Mesa's lavapipe/llvmpipe, SwiftShader). */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software/i;

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly runtime: GpuRuntime;
  readonly timer: KernelTimer | undefined;

  constructor(device: GPUDevice, private readonly adapterInfo: GPUAdapterInfo, private readonly adapterName: string) {
    this.runtime = new GpuRuntime(device, adapterName);
    this.timer = this.runtime.timer;
    this.indexChecks = new GpuIndexChecks(this.runtime);
  }
  private readonly indexChecks: GpuIndexChecks;

  /** Destroys the device (see releaseDevices). */
  release(): void {
    this.runtime.flush();
    this.runtime.device.destroy();
  }

  info(): DeviceInfo {
    const l = this.runtime.device.limits;
    const a = this.adapterInfo;
    return {
      name: 'webgpu',
      kind: 'gpu',
      software: SOFTWARE_ADAPTER.test(this.adapterName),
      matmulPrecision: 'float32',
      description: this.adapterName,
      details: {
        vendor: a.vendor || 'unknown', architecture: a.architecture || 'unknown', device: a.device || 'unknown', driver: a.description || 'unknown',
        maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX, maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
        features: [...this.runtime.device.features].filter((f) => ['timestamp-query', 'shader-f16', 'subgroups'].includes(f)).join(' ') || 'none',
        reservedBytes: this.runtime.bytesReserved,
      },
    };
  }

  reservedBytes(): number { return this.runtime.bytesReserved; }
  alloc(dtype: DType, size: number): Storage {
    return new GpuStorage(dtype, size, this.runtime.createBuffer(size * 4));
  }
  free(storage: Storage): void {
    this.runtime.releaseBuffer(bufferOf(storage));
  }
  write(storage: Storage, data: TypedArray): void {
    // booleans widen to u32 on the device; half formats to float32 values they can represent
    const widened = data instanceof Uint8Array ? Uint32Array.from(data) : isHalf(storage.dtype) ? roundHalfArray(storage.dtype, Float32Array.from(data)) : data;
    this.runtime.write(bufferOf(storage), widened);
  }
  async read(storage: Storage): Promise<TypedArray> {
    const s = storage as GpuStorage;
    const { data: raw, extra: flags } = await this.runtime.readWith(s.buffer, s.size * 4, this.indexChecks.outstanding);
    if (flags) this.indexChecks.settle(flags);
    if (isFloat(s.dtype)) return new Float32Array(raw, 0, s.size);
    if (s.dtype === 'int32') return new Int32Array(raw, 0, s.size);
    return Uint8Array.from(new Uint32Array(raw, 0, s.size));
  }

  elementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], params?: readonly number[]): void {
    elementwise(this.runtime, exprs, inputs, outs, params);
  }
  reduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, params?: readonly number[]): void {
    reduce(this.runtime, kind, expr, inputs, axes, out, params);
  }
  matmul(a: View, b: View, out: View): void {
    fixed.matmul(this.runtime, a, b, out);
    roundWidenedProduct(this, out);
  }
  im2col(x: View, out: View, g: WindowGeometry): void { fixed.im2col(this.runtime, x, out, g); }
  col2im(cols: View, out: View, g: WindowGeometry): void { fixed.col2im(this.runtime, cols, out, g); }
  pool2d(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void { fixed.pool2d(this.runtime, kind, x, out, g, argmax); }
  pool2dBackward(kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
    fixed.pool2dBackward(this.runtime, kind, gradOut, gradIn, g, argmax);
  }
  gather(x: View, indices: View, out: View): void { fixed.gather(this.runtime, x, indices, out); }
  scatterAdd(src: View, indices: View, out: View): void { fixed.scatterAdd(this.runtime, src, indices, out); }
  checkIndices(indices: View, limit: number, error: IndexError): void { this.indexChecks.check(indices, limit, error); }
  random(kind: RandomKind, out: View, [seed, counter]: RandomState): void { fixed.random(this.runtime, kind, seed, counter, out); }
  /** One compute pass of recorded dispatches per replay (see replay.ts). */
  replayer(calls: readonly CapturedCall[]): Replayer { return webgpuReplayer(this, this.runtime, calls); }
}
