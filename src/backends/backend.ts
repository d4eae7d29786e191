// The contract every device implements: a handful of primitives that all ops are built on.
import type { DType, TypedArray } from '../core/dtype.js';
import type { Expr } from '../core/expr.js';
import type { Shape } from '../core/shape.js';

/** Opaque device memory. Only the backend that made it looks inside. */
export interface Storage {
  readonly dtype: DType;
  readonly size: number;
}

/** A strided window onto a storage, in elements. */
export interface View {
  readonly storage: Storage;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

export type ReduceKind = 'sum' | 'max' | 'min' | 'prod' | 'argmax' | 'argmin';
export type RandomKind = 'uniform' | 'normal';

/** Geometry of a 2-D sliding window over NHWC input (convolution and pooling). */
export interface WindowGeometry {
  readonly batch: number;
  readonly inH: number; readonly inW: number; readonly channels: number;
  readonly kernelH: number; readonly kernelW: number;
  readonly strideH: number; readonly strideW: number;
  readonly padTop: number; readonly padLeft: number;
  readonly dilationH: number; readonly dilationW: number;
  readonly outH: number; readonly outW: number;
}

/** A convolution's window over its input, with the number of output channels (one group). */
export interface ConvGeometry extends WindowGeometry {
  readonly outChannels: number;
}

/** Makes the error for an out-of-range index (the op's own message). */
export type IndexError = (value: number, position: number) => Error;

export interface DeviceInfo {
  readonly name: string;
  /** 'tpu': a TPU behind a PJRT plugin */
  readonly kind: 'cpu' | 'gpu' | 'tpu';
  readonly description: string;
  /** a software renderer (lavapipe, SwiftShader): slower than the CPU backend, so 'auto' skips it */
  readonly software: boolean;
  /** how float32 matrix products are computed: in full float32, or on TF32 tensor cores (10-bit mantissa) */
  readonly matmulPrecision: 'float32' | 'tf32';
  readonly details: Record<string, string | number>;
}

/** Measures how long each kernel takes on the device, for the profiler. */
export interface KernelTimer {
  /** what the times come from, e.g. 'WebGPU timestamp queries' */
  readonly clock: string;
  /** From now on, report each kernel's device time with the op label current at launch. */
  start(record: (label: string, ms: number) => void): void;
  /** Stops timing; resolves once every started kernel's time has been reported. */
  stop(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  info(): DeviceInfo;
  /** Absent where the device cannot time its kernels (the profiler then reports counts only). */
  readonly timer?: KernelTimer;

  // memory
  /** Bytes the device's allocator holds: in use plus blocks cached for reuse. */
  reservedBytes?(): number;
  alloc(dtype: DType, size: number): Storage;
  free(storage: Storage): void;
  write(storage: Storage, data: TypedArray): void;
  read(storage: Storage): Promise<TypedArray>;
  /** Synchronous read, offered only by devices whose memory the host can see. */
  readSync?(storage: Storage): TypedArray;

  /**
   * One kernel: outs[k][i] = exprs[k](inputs...[i]) for every index i of the output shape.
   * Inputs arrive already broadcast to the output shape (stride 0 on broadcast axes); all
   * outputs share that shape. An output may alias an input at the same index (in-place).
   */
  elementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], params?: readonly number[]): void;

  /**
   * out = reduce over `axes` of expr(inputs...). Inputs are broadcast to one full shape;
   * `out` has that shape with the reduced axes of size 1. argmax/argmin take one axis.
   */
  reduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, params?: readonly number[]): void;

  /** out[b] = a[b] @ b[b] for views of shape [B, M, K], [B, K, N], [B, M, N]; any strides. */
  matmul(a: View, b: View, out: View): void;

  /** NHWC input to columns [B*outH*outW, kernelH*kernelW*C] (zero padding). */
  im2col(x: View, out: View, g: WindowGeometry): void;
  /** Adds columns back into a zeroed NHWC gradient: the transpose of im2col. */
  col2im(cols: View, out: View, g: WindowGeometry): void;

  /**
   * Optional: the device's own convolution kernels (oneDNN on the CPU), for one group over NHWC
   * x and HWIO w: out = conv(x, w). False when it has none for these views; the conv op then
   * runs im2col + matmul. True promises the two gradients below for the same geometry.
   */
  conv2d?(x: View, w: View, out: View, g: ConvGeometry): boolean;
  /** dx = the input gradient of conv2d from dy and w (dx is written, not added to). */
  conv2dBackwardInput?(dy: View, w: View, dx: View, g: ConvGeometry): void;
  /** dw = the filter gradient of conv2d from x and dy (written). */
  conv2dBackwardFilter?(x: View, dy: View, dw: View, g: ConvGeometry): void;

  /** Pooling over NHWC. Max pooling also records, per output, the flat input index it took. */
  pool2d(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void;
  /** Pooling's input gradient, written (not added) into a contiguous NHWC gradIn. */
  pool2dBackward(kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void;

  /** x viewed as [outer, n, inner]; out[o, j, i] = x[o, indices[j], i]. */
  gather(x: View, indices: View, out: View): void;
  /** out viewed as [outer, n, inner]; out[o, indices[j], i] += src[o, j, i]. */
  scatterAdd(src: View, indices: View, out: View): void;

  /**
   * Range check of an int32 index vector [n]: the first value outside [0, limit) raises
   * `error(value, position)`. The CPU raises at once; a GPU records the failure in a flag on
   * the device and raises at its next read, so no op waits for the device.
   */
  checkIndices(indices: View, limit: number, error: IndexError): void;

  /**
   * Fills a contiguous float32 view from the counter-based generator (Philox 4x32-10) at
   * `state` = [seed, counter offset]: a params array like elementwise's, so a compiled step
   * replays each draw at the generator's new position.
   */
  random(kind: RandomKind, out: View, state: RandomState): void;

  /**
   * Optional: turns the primitive calls of a captured step (over storages that stay fixed) into
   * one function that runs them again, with kernels and layouts resolved once. Devices without
   * it replay call by call through the methods above. `scratch` holds the storages whose values
   * die within a step (the plan's temporaries): a device may leave them stale between replays.
   */
  replayer?(calls: readonly CapturedCall[], scratch: ReadonlySet<Storage>): Replayer;
}

/** [seed, counter offset] of a random draw. */
export type RandomState = readonly [seed: number, counter: number];

/** The primitives a compiled step records, with their arguments (typed by the methods above). */
export type PrimitiveName = 'elementwise' | 'reduce' | 'matmul' | 'im2col' | 'col2im' | 'conv2d' | 'conv2dBackwardInput' | 'conv2dBackwardFilter' | 'pool2d' | 'pool2dBackward' | 'gather' | 'scatterAdd' | 'checkIndices' | 'random' | 'write';
export type PrimitiveCall = { [K in PrimitiveName]: { readonly prim: K; readonly args: Parameters<NonNullable<Backend[K]>> } }[PrimitiveName];

/** A recorded call; `changing` when its params array takes new values at every replay (a learning rate, a step count). */
export type CapturedCall = PrimitiveCall & { readonly changing: boolean };

/** A device's replay of one captured step. */
export interface Replayer {
  /** how the device replays, for --profile (e.g. 'one compute pass', 'CUDA graph') */
  readonly how: string;
  run(): void;
  dispose(): void;
}
