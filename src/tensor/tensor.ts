// The Tensor: a strided view onto device storage, with autograd state and fluent methods.
import type { DType, TypedArray } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
import { contiguousStrides, sizeOf } from '../core/shape.js';
import type { Backend, View } from '../backends/backend.js';
import * as ops from '../ops/index.js';
import { type GradNode, runBackward } from './autograd.js';
import { StorageRef, unreachable, usageOf } from './memory.js';
import { track } from './scope.js';

let nextId = 1;
/** Sees every tensor whose storage a kernel is about to use (a compiled step's capture). */
let viewObserver: ((t: Tensor) => void) | null = null;

/** @internal */
export function observeViews(fn: ((t: Tensor) => void) | null): void { viewObserver = fn; }
/** @internal the id the next tensor will get: tensors below it already exist */
export function nextTensorId(): number { return nextId; }

/** @internal a tensor over a view of storage another owner keeps (a plan's), for a moment: disposing it frees nothing */
export function lentTensor(backend: Backend, v: View): Tensor {
  return new Tensor(new StorageRef(backend, v.storage, true), v.shape, v.strides, v.offset, v.storage.dtype);
}

export class Tensor {
  readonly id = nextId++;
  /** Whether gradients flow to this tensor. Set on leaves with `requiresGrad: true`. */
  requiresGrad = false;
  /** Accumulated gradient after `backward()`, for leaves that require one. */
  grad: Tensor | null = null;
  /** @internal how this tensor was computed, for autograd */
  node: GradNode | null = null;
  private disposed = false;

  /** @internal use the creation functions (tsr.tensor, tsr.zeros, ...) */
  constructor(
    private readonly ref: StorageRef,
    readonly shape: readonly number[],
    /** @internal */ readonly strides: readonly number[],
    /** @internal */ readonly offset: number,
    readonly dtype: DType,
  ) {
    ref.retain();
    usageOf(ref.backend.name).tensors++;
    unreachable.register(this, { ref, device: ref.backend.name }, this);
    track(this);
  }

  get device(): string { return this.ref.backend.name; }
  get size(): number { return sizeOf(this.shape); }
  get rank(): number { return this.shape.length; }
  get isDisposed(): boolean { return this.disposed; }

  /** @internal */
  get backend(): Backend {
    return this.ref.backend;
  }

  /** @internal the strided view kernels read; throws if disposed */
  get storageView(): View {
    if (this.disposed) this.useAfterDispose('read');
    viewObserver?.(this);
    return { storage: this.ref.storage, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** @internal a new tensor sharing this one's storage */
  withView(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    if (this.disposed) this.useAfterDispose('view');
    return new Tensor(this.ref, shape, strides, offset, this.dtype);
  }

  /** @internal whether the elements lie in row-major order from offset 0 and fill the storage */
  get isDense(): boolean {
    const c = contiguousStrides(this.shape);
    return this.offset === 0 && this.size === this.ref.storage.size && this.shape.every((d, i) => d === 1 || c[i] === this.strides[i]);
  }

  /** Frees the storage once no other view uses it. Using the tensor afterwards is an error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    unreachable.unregister(this);
    usageOf(this.ref.backend.name).tensors--;
    this.ref.release();
  }

  /** @internal */
  useAfterDispose(op: string): never {
    fail(op, `tensor #${this.id} (shape ${shapeStr(this.shape)}, ${this.dtype}) was already disposed; keep it out of tidy() or call tsr.keep() on it`);
  }

  /** The elements in row-major order, as a new typed array. */
  async data(): Promise<TypedArray> {
    if (this.disposed) this.useAfterDispose('data');
    if (this.isDense) return this.backend.read(this.ref.storage);
    const c = ops.contiguous(this);
    try {
      return c.window(await c.backend.read(c.ref.storage));
    } finally {
      if (c !== this) c.dispose();
    }
  }

  /** Synchronous read, for devices whose memory the host sees (cpu). */
  dataSync(): TypedArray {
    if (this.disposed) this.useAfterDispose('dataSync');
    const read = this.backend.readSync;
    if (!read) fail('dataSync', `device '${this.device}' cannot be read synchronously; use await tensor.data()`);
    if (this.isDense) return read.call(this.backend, this.ref.storage);
    const c = ops.contiguous(this);
    try {
      return c.window(read.call(c.backend, c.ref.storage));
    } finally {
      if (c !== this) c.dispose();
    }
  }

  /** The part of a full storage read that a contiguous tensor covers. */
  private window(all: TypedArray): TypedArray {
    return this.offset === 0 && all.length === this.size ? all : all.slice(this.offset, this.offset + this.size);
  }

  /** The elements as nested JavaScript arrays (a number for a scalar). */
  async array(): Promise<unknown> {
    return nest(await this.data(), this.shape, this.dtype);
  }

  arraySync(): unknown {
    return nest(this.dataSync(), this.shape, this.dtype);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) fail('item', `expected a tensor with one element, got shape ${shapeStr(this.shape)}`);
    return this.dataSync()[0]!;
  }

  toString(): string {
    if (this.disposed) return `Tensor(disposed, shape=${shapeStr(this.shape)}, dtype=${this.dtype})`;
    const body = this.backend.readSync ? format(this.dataSync(), this.shape, this.dtype) : '<on device; await data()>';
    return `Tensor(${body}, shape=${shapeStr(this.shape)}, dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- autograd ----
  /** Back-propagates from this tensor; gradients accumulate into the `.grad` of leaves. */
  backward(gradient?: Tensor): void { runBackward(this, gradient); }
  /** A tensor sharing this one's values but cut from the gradient graph. */
  detach(): Tensor { return this.withView(this.shape, this.strides, this.offset); }
  /** Marks this leaf as needing a gradient; returns it. */
  requireGrad(flag = true): this {
    if (this.node) fail('requireGrad', 'only leaf tensors (not results of ops) can be marked; use detach() first');
    if (flag && this.dtype !== 'float32') fail('requireGrad', `only float32 tensors can require gradients, got ${this.dtype}`);
    this.requiresGrad = flag;
    return this;
  }
  zeroGrad(): void { this.grad?.dispose(); this.grad = null; }

  // ---- fluent ops (defined in src/ops) ----
  /** A copy on `device` (this tensor if already there); synchronous where the source reads synchronously (cpu, cuda). */
  to(device: string): Tensor { return ops.toDevice(this, device); }
  /** A copy on `device` from any device, webgpu included. @example const h = await t.toAsync('cpu') */
  toAsync(device: string): Promise<Tensor> { return ops.toDeviceAsync(this, device); }
  add(b: Tensor | number): Tensor { return ops.add(this, b); }
  sub(b: Tensor | number): Tensor { return ops.sub(this, b); }
  mul(b: Tensor | number): Tensor { return ops.mul(this, b); }
  div(b: Tensor | number): Tensor { return ops.div(this, b); }
  pow(b: Tensor | number): Tensor { return ops.pow(this, b); }
  neg(): Tensor { return ops.neg(this); }
  abs(): Tensor { return ops.abs(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  square(): Tensor { return ops.square(this); }
  relu(): Tensor { return ops.relu(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  tanh(): Tensor { return ops.tanh(this); }
  maximum(b: Tensor | number): Tensor { return ops.maximum(this, b); }
  minimum(b: Tensor | number): Tensor { return ops.minimum(this, b); }
  clip(lo: number, hi: number): Tensor { return ops.clip(this, lo, hi); }
  equal(b: Tensor | number): Tensor { return ops.equal(this, b); }
  less(b: Tensor | number): Tensor { return ops.less(this, b); }
  greater(b: Tensor | number): Tensor { return ops.greater(this, b); }
  cast(dtype: DType): Tensor { return ops.cast(this, dtype); }
  matmul(b: Tensor): Tensor { return ops.matmul(this, b); }
  sum(axes?: number | number[], keepDims = false): Tensor { return ops.sum(this, axes, keepDims); }
  mean(axes?: number | number[], keepDims = false): Tensor { return ops.mean(this, axes, keepDims); }
  max(axes?: number | number[], keepDims = false): Tensor { return ops.max(this, axes, keepDims); }
  min(axes?: number | number[], keepDims = false): Tensor { return ops.min(this, axes, keepDims); }
  argmax(axis?: number, keepDims = false): Tensor { return ops.argmax(this, axis, keepDims); }
  argmin(axis?: number, keepDims = false): Tensor { return ops.argmin(this, axis, keepDims); }
  softmax(axis = -1): Tensor { return ops.softmax(this, axis); }
  logSoftmax(axis = -1): Tensor { return ops.logSoftmax(this, axis); }
  reshape(shape: readonly number[]): Tensor { return ops.reshape(this, shape); }
  view(shape: readonly number[]): Tensor { return ops.view(this, shape); }
  flatten(startAxis = 0, endAxis = -1): Tensor { return ops.flatten(this, startAxis, endAxis); }
  squeeze(axes?: number | number[]): Tensor { return ops.squeeze(this, axes); }
  unsqueeze(axis: number): Tensor { return ops.unsqueeze(this, axis); }
  permute(perm: readonly number[]): Tensor { return ops.permute(this, perm); }
  transpose(perm?: readonly number[]): Tensor { return ops.transpose(this, perm); }
  /** The transpose (all axes reversed). */
  get T(): Tensor { return ops.transpose(this); }
  expand(shape: readonly number[]): Tensor { return ops.expand(this, shape); }
  slice(ranges: readonly ops.SliceRange[]): Tensor { return ops.slice(this, ranges); }
  contiguous(): Tensor { return ops.contiguous(this); }
}

function nest(data: TypedArray, shape: readonly number[], dtype: DType): unknown {
  const conv = (v: number) => (dtype === 'bool' ? v !== 0 : v);
  if (shape.length === 0) return conv(data[0]!);
  const build = (dim: number, start: number): unknown[] => {
    const n = shape[dim]!;
    const step = sizeOf(shape.slice(dim + 1));
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(dim === shape.length - 1 ? conv(data[start + i]!) : build(dim + 1, start + i * step));
    return out;
  };
  return build(0, 0);
}

function format(data: TypedArray, shape: readonly number[], dtype: DType): string {
  const fmt = (v: number) => dtype === 'bool' ? String(v !== 0) : dtype === 'int32' ? String(v) : Number(v.toPrecision(5)).toString();
  const limit = 6;
  if (shape.length === 0) return fmt(data[0]!);
  const build = (dim: number, start: number): string => {
    const n = shape[dim]!;
    const step = sizeOf(shape.slice(dim + 1));
    const idx = n > limit ? [0, 1, 2, -1, n - 3, n - 2, n - 1] : Array.from({ length: n }, (_, i) => i);
    const parts = idx.map((i) => (i < 0 ? '...' : dim === shape.length - 1 ? fmt(data[start + i]!) : build(dim + 1, start + i * step)));
    return `[${parts.join(', ')}]`;
  };
  return build(0, 0);
}
