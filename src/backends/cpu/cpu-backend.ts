// The CPU device: generated JavaScript for elementwise and reductions, the system BLAS for products.
import { env, isNode, nodeBuiltin } from '../../core/platform.js';
import { fail } from '../../core/errors.js';
import { isContiguous, sizeOf } from '../../core/shape.js';
import { type DType, type TypedArray, isHalf } from '../../core/dtype.js';
import { roundHalfArray } from '../../core/half.js';
import type { Expr } from '../../core/expr.js';
import { philoxFill } from '../../core/philox.js';
import type { Backend, CapturedCall, ConvGeometry, DeviceInfo, IndexError, RandomKind, RandomState, ReduceKind, Replayer, Storage, View, WindowGeometry } from '../backend.js';
import { BLAS_HINT, probeBlas } from './blas.js';
import { type ConvPass, probeOneDnn } from './onednn.js';
import { hostClockTimer } from '../host-timer.js';
import { planElementwise } from './elementwise.js';
import { checkIndices, gather, scatterAdd } from './gather.js';
import { runMatmul } from './matmul.js';
import { roundWidenedProduct } from '../widened-half.js';
import { planColumnSum, planReduce } from './reduce.js';
import { cpuReplayer } from './replay.js';
import { heap } from './heap.js';
import { CpuStorage, dataOf } from './storage.js';
import { col2im, im2col, pool2d, pool2dBackward } from './window.js';
import { wasmCol2im, wasmIm2col, wasmPool } from './wasm-window.js';
import { simdPool, wasmMaxPoolBackward, wasmTiledMaxPoolBackward } from './wasm-pool.js';
import { planWasmSum } from './wasm-sum.js';
import { planWasmColumnReduce, planWasmRowReduce } from './wasm-reduce.js';
import { SIMD } from './elementwise.js';

function cpuFeatures(): string {
  try {
    // Linux lists instruction sets in /proc/cpuinfo; elsewhere we report the model only
    const text = nodeBuiltin('fs')?.readFileSync('/proc/cpuinfo', 'utf8') ?? '';
    const flags = new Set((/^flags\s*:(.*)$/m.exec(text)?.[1] ?? '').trim().split(/\s+/));
    return ['avx512f', 'avx2', 'fma', 'avx', 'sse4_2', 'neon', 'asimd'].filter((f) => flags.has(f)).join(' ');
  } catch {
    return '';
  }
}

const NO_PARAMS: readonly number[] = [];

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly timer = hostClockTimer(this);
  private readonly blas = probeBlas();
  private warned = false;

  info(): DeviceInfo {
    const dnnl = probeOneDnn();
    // browsers tell the core count only
    const cpus = nodeBuiltin('os')?.cpus();
    const cores = cpus?.length ?? (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
    const lib = this.blas.library;
    return {
      name: 'cpu',
      kind: 'cpu',
      software: false,
      matmulPrecision: 'float32',
      description: `${cpus?.[0]?.model.trim() ?? 'CPU'} (${cores} cores)`,
      details: {
        cores,
        features: cpuFeatures(),
        blas: lib ? `${lib.vendor} (${lib.path})` : `none: ${this.blas.reason}; ${BLAS_HINT}`,
        convolution: dnnl.library ? `oneDNN ${dnnl.library.version} (${dnnl.library.path})` : `im2col + GEMM (oneDNN: ${dnnl.reason})`,
      },
    };
  }

  get blasLibrary() { return this.blas.library; }

  /** The WebAssembly heap, which grows and is reused but never shrinks. */
  reservedBytes(): number { return heap.stats().reserved; }
  alloc(dtype: DType, size: number): Storage {
    // uninitialised, as on every device: ops write all of it or fill it first
    return new CpuStorage(dtype, size);
  }
  free(storage: Storage): void {
    (storage as CpuStorage).free();
  }
  write(storage: Storage, data: TypedArray): void {
    const target = dataOf(storage);
    target.set(data);
    // widened half storage holds only values the format can represent
    if (isHalf(storage.dtype)) roundHalfArray(storage.dtype, target.subarray(0, data.length) as Float32Array);
  }
  async read(storage: Storage): Promise<TypedArray> {
    return this.readSync(storage);
  }
  readSync(storage: Storage): TypedArray {
    return dataOf(storage).slice();
  }

  elementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], params?: readonly number[]): void {
    planElementwise(exprs, inputs, outs)(params ?? NO_PARAMS);
  }
  reduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, params?: readonly number[]): void {
    this.planReduce(kind, expr, inputs, axes, out)(params ?? NO_PARAMS);
  }
  /** The reduction's kernel, chosen once: the same choice eagerly and in a replay, so both give the same bits. */
  planReduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View): (params: readonly number[]) => void {
    const lib = this.blas.library;
    return (kind === 'sum' && SIMD && planWasmSum(expr, inputs, axes, out))
      || (kind === 'sum' && lib && planColumnSum(expr, inputs, axes, out, lib))
      || (SIMD && (planWasmRowReduce(kind, expr, inputs, axes, out) || planWasmColumnReduce(kind, expr, inputs, axes, out)))
      || planReduce(kind, expr, inputs, axes, out);
  }
  /** A flat list of resolved kernels: elementwise and reductions bound to their views, the rest through the methods. */
  replayer(calls: readonly CapturedCall[]): Replayer {
    return cpuReplayer(this, calls);
  }
  matmul(a: View, b: View, out: View): void {
    const lib = this.blas.library;
    // in a browser there is no BLAS to install: nothing to warn about
    if (!lib && isNode && !this.warned && a.shape[1]! * b.shape[2]! * a.shape[2]! >= 64 * 64 * 64) {
      this.warned = true;
      if (!env('TESSERA_QUIET')) console.warn(`tessera: no BLAS found, matrix products use the slower built-in kernel; ${BLAS_HINT}`);
    }
    runMatmul(a, b, out, lib);
    const dtype = out.storage.dtype;
    // a dense half result rounds in place on the host; other layouts through a kernel
    if (isHalf(dtype) && isContiguous(out.shape, out.strides)) {
      roundHalfArray(dtype, (dataOf(out) as Float32Array).subarray(out.offset, out.offset + sizeOf(out.shape)));
    } else roundWidenedProduct(this, out);
  }
  im2col(x: View, out: View, g: WindowGeometry): void {
    if (!(SIMD && wasmIm2col(x, out, g))) im2col(x, out, g);
  }
  col2im(cols: View, out: View, g: WindowGeometry): void {
    if (!(SIMD && wasmCol2im(cols, out, g))) col2im(cols, out, g);
  }
  /** oneDNN's kernels for float32 (widened half storage rounds per product: im2col + GEMM does that). */
  conv2d(x: View, w: View, out: View, g: ConvGeometry): boolean {
    const lib = probeOneDnn().library;
    const f32 = (v: View) => v.storage.dtype === 'float32';
    return !!lib && f32(x) && f32(w) && f32(out) && lib.run('forward', x, w, out, g);
  }
  /** A convolution pass this backend ran, resolved to its oneDNN primitive for a replay. */
  planConv(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): () => void {
    return probeOneDnn().library?.plan(pass, a, b, out, g) ?? fail('conv2d', `oneDNN has no ${pass} kernel for a convolution it ran`);
  }
  conv2dBackwardInput(dy: View, w: View, dx: View, g: ConvGeometry): void {
    probeOneDnn().library!.run('backwardInput', dy, w, dx, g) || fail('conv2d', 'oneDNN declined the input gradient of a convolution it ran');
  }
  conv2dBackwardFilter(x: View, dy: View, dw: View, g: ConvGeometry): void {
    probeOneDnn().library!.run('backwardFilter', x, dy, dw, g) || fail('conv2d', 'oneDNN declined the filter gradient of a convolution it ran');
  }
  pool2d(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void {
    if (!(SIMD && (simdPool(kind, x, out, g, argmax) || wasmPool(kind, x, out, g, argmax)))) pool2d(kind, x, out, g, argmax);
  }
  pool2dBackward(kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
    if (SIMD && kind === 'max' && argmax && wasmTiledMaxPoolBackward(gradOut, gradIn, argmax, g)) return;
    // the other kernels add into gradIn (contiguous, as the contract says)
    (dataOf(gradIn) as Float32Array).fill(0, gradIn.offset, gradIn.offset + sizeOf(gradIn.shape));
    if (kind === 'max' && argmax && wasmMaxPoolBackward(gradOut, gradIn, argmax)) return;
    pool2dBackward(kind, gradOut, gradIn, g, argmax);
  }
  gather(x: View, indices: View, out: View): void { gather(x, indices, out); }
  scatterAdd(src: View, indices: View, out: View): void { scatterAdd(src, indices, out); }
  checkIndices(indices: View, limit: number, error: IndexError): void { checkIndices(indices, limit, error); }
  random(kind: RandomKind, out: View, [seed, counter]: RandomState): void {
    philoxFill(kind, seed, counter, dataOf(out) as Float32Array, out.offset, out.shape.reduce((a, b) => a * b, 1));
  }
}
