// The CUDA backend's primitives: each fills a kernel's integer struct and pointer list from
// views (as the WebGPU backend does) and launches it on the runtime's stream.
import type { DType } from '../../core/dtype.js';
import { bytesPerElement, float32Bits } from '../../core/dtype.js';
import type { Expr } from '../../core/expr.js';
import { input } from '../../core/expr.js';
import { collapseDims, sizeOf } from '../../core/shape.js';
import { partialStrides, planReduce, secondPass } from '../reduce-plan.js';
import type { RandomKind, ReduceKind, Storage, View, WindowGeometry } from '../backend.js';
import { splitSeed } from '../../core/philox.js';
import * as K from './kernels.js';
import { CudaRuntime } from './runtime.js';

export class CudaStorage implements Storage {
  constructor(readonly dtype: DType, readonly size: number, readonly ptr: bigint, readonly bytes: number) {}
}

const ptrOf = (v: View) => (v.storage as CudaStorage).ptr;
const dtypeOf = (v: View) => (v.storage as CudaStorage).dtype;

export function elementwise(rt: CudaRuntime, exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], params: readonly number[] = []): void {
  const n = sizeOf(outs[0]!.shape);
  if (n === 0) return;
  const views = [...inputs, ...outs];
  const { shape: dims, strides } = collapseDims(outs[0]!.shape, views.map((v) => v.strides));
  const inD = inputs.map(dtypeOf), outD = outs.map(dtypeOf);
  const k = rt.kernel(K.elementwiseKey(exprs, inD, outD, dims.length, params.length), () => K.elementwiseKernel(exprs, inD, outD, dims.length, params.length));
  const meta = [n, ...dims];
  for (let i = 0; i < views.length; i++) meta.push(views[i]!.offset, ...strides[i]!);
  for (const p of params) meta.push(float32Bits(p));
  rt.launch(k, meta, views.map(ptrOf), CudaRuntime.grid(n));
}

export function reduce(rt: CudaRuntime, kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, params: readonly number[] = []): void {
  const plan = planReduce(kind, inputs, axes, out, { minTerms: 65536, termsPerPart: 16384 });
  const { kept, red, nOut, nRed, parts, chunk } = plan;
  if (nOut === 0) return;
  const outD = dtypeOf(out);
  const partialBytes = nOut * parts * bytesPerElement(outD);
  const partial = parts > 1 ? new CudaStorage(outD, nOut * parts, rt.alloc(partialBytes), partialBytes) : null;
  const targetOffset = partial ? 0 : out.offset;
  const targetStrides = partial ? partialStrides(plan) : kept.strides[inputs.length]!;
  const inD = inputs.map(dtypeOf);
  const k = rt.kernel(K.reduceKey(kind, expr, inD, outD, kept.shape.length, red.shape.length, params.length),
    () => K.reduceKernel(kind, expr, inD, outD, kept.shape.length, red.shape.length, params.length));
  const meta = [nOut, nRed, parts, chunk, ...kept.shape, ...red.shape];
  for (let i = 0; i < inputs.length; i++) meta.push(inputs[i]!.offset, ...kept.strides[i]!);
  for (let i = 0; i < inputs.length; i++) meta.push(0, ...(red.strides[i] ?? []));
  meta.push(targetOffset, ...targetStrides);
  for (const p of params) meta.push(float32Bits(p));
  rt.launch(k, meta, [...inputs.map(ptrOf), partial ? partial.ptr : ptrOf(out)], [nOut * parts, 1, 1], [K.BLOCK, 1, 1]);
  if (!partial) return;
  const second = secondPass(plan, partial, out);
  reduce(rt, kind, input(0, outD), [second.input], second.axes, second.out);
  rt.release(partial.ptr, partialBytes);
}

function geometry(g: WindowGeometry): number[] {
  return [g.batch, g.inH, g.inW, g.channels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft, g.dilationH, g.dilationW, g.outH, g.outW];
}

function fixed(rt: CudaRuntime, key: string, make: () => K.KernelSource, threads: number, meta: number[], views: readonly View[]): void {
  if (threads === 0) return;
  rt.launch(rt.kernel(key, make), [threads, ...meta], views.map(ptrOf), CudaRuntime.grid(threads));
}

export function im2col(rt: CudaRuntime, x: View, cols: View, g: WindowGeometry): void {
  fixed(rt, 'im2col', K.im2colKernel, g.batch * g.outH * g.outW * g.kernelH * g.kernelW * g.channels, [...geometry(g), x.offset, ...x.strides, cols.offset], [x, cols]);
}

export function col2im(rt: CudaRuntime, cols: View, dx: View, g: WindowGeometry): void {
  fixed(rt, 'col2im', K.col2imKernel, g.batch * g.inH * g.inW * g.channels, [...geometry(g), dx.offset, ...dx.strides, cols.offset], [cols, dx]);
}

export function pool2d(rt: CudaRuntime, kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void {
  // without an argmax view the kernel still takes a pointer; it writes nothing through it
  fixed(rt, `pool|${kind}|${!!argmax}`, () => K.poolKernel(kind, !!argmax), g.batch * g.outH * g.outW * g.channels,
    [...geometry(g), x.offset, ...x.strides, out.offset, argmax?.offset ?? 0], [x, out, argmax ?? out]);
}

export function pool2dBackward(rt: CudaRuntime, kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
  fixed(rt, `poolback|${kind}`, () => K.poolBackwardKernel(kind), g.batch * g.inH * g.inW * g.channels,
    [...geometry(g), gradOut.offset, gradIn.offset, argmax?.offset ?? 0], [gradOut, gradIn, argmax ?? gradOut]);
}

export function gather(rt: CudaRuntime, x: View, indices: View, out: View): void {
  const [outer, len, inner] = x.shape as [number, number, number];
  const n = out.shape[1]!;
  fixed(rt, `gather|${dtypeOf(x)}`, () => K.gatherKernel(dtypeOf(x)), outer * n * inner,
    [len, n, inner, x.offset, indices.offset, indices.strides[0] ?? 1, ...x.strides, out.offset, ...out.strides], [x, indices, out]);
}

export function scatterAdd(rt: CudaRuntime, src: View, indices: View, out: View): void {
  const [outer, len, inner] = out.shape as [number, number, number];
  const n = src.shape[1]!;
  fixed(rt, 'scatterAdd', K.scatterAddKernel, outer * len * inner,
    [len, n, inner, src.offset, indices.offset, indices.strides[0] ?? 1, ...src.strides, out.offset, ...out.strides], [src, indices, out]);
}

export function random(rt: CudaRuntime, kind: RandomKind, seed: number, counterOffset: number, out: View): void {
  const [lo, hi] = splitSeed(seed);
  // the struct holds int32: unsigned values travel as their bit pattern
  fixed(rt, `philox|${kind}`, () => K.randomKernel(kind), sizeOf(out.shape),
    [lo | 0, hi | 0, out.offset, (counterOffset % 4294967296) | 0, Math.floor(counterOffset / 4294967296) | 0], [out]);
}
