// How a GPU reduction is laid out, shared by the WebGPU and CUDA backends: kept and reduced
// axes collapsed, and when few outputs each sum very many terms, a split of every output into
// chunks on separate workgroups/blocks whose partials a second pass reduces.
import { collapseDims, contiguousStrides, sizeOf } from '../core/shape.js';
import type { ReduceKind, Storage, View } from './backend.js';

export interface ReducePlan {
  /** kept axes: shape, and strides of each input then of the output */
  kept: { shape: number[]; strides: number[][] };
  /** reduced axes: shape, and strides of each input */
  red: { shape: number[]; strides: number[][] };
  nOut: number;
  nRed: number;
  /** chunks per output (1: one pass) and terms per chunk */
  parts: number;
  chunk: number;
}

/** `split`: a split happens from minTerms terms per output, at about termsPerPart terms a chunk. */
export function planReduce(kind: ReduceKind, inputs: readonly View[], axes: readonly number[], out: View, split: { minTerms: number; termsPerPart: number }): ReducePlan {
  const full = inputs[0]!.shape;
  const keptAxes = full.map((_, d) => d).filter((d) => !axes.includes(d));
  const pick = (list: readonly number[], which: readonly number[]) => which.map((d) => list[d]!);
  const kept = collapseDims(pick(full, keptAxes), [...inputs.map((v) => pick(v.strides, keptAxes)), pick(out.strides, keptAxes)]);
  const red = collapseDims(pick(full, axes), inputs.map((v) => pick(v.strides, axes)));
  const nOut = sizeOf(kept.shape), nRed = sizeOf(red.shape);
  const arg = kind === 'argmax' || kind === 'argmin';
  // a whole reduction on one workgroup idles a GPU
  const parts = !arg && nOut < 2048 && nRed >= split.minTerms ? Math.min(1024, Math.ceil(nRed / split.termsPerPart)) : 1;
  return { kept, red, nOut, nRed, parts, chunk: Math.max(1, Math.ceil(nRed / parts)) };
}

/** Strides of the kept axes in the partials array [...kept, parts]. */
export function partialStrides(plan: ReducePlan): number[] {
  return contiguousStrides(plan.kept.shape).map((s) => s * plan.parts);
}

/** The second pass: the partials [...kept, parts] summed (or maxed...) along their last axis into `out`. */
export function secondPass(plan: ReducePlan, partials: Storage, out: View): { input: View; axes: number[]; out: View } {
  const { shape, strides } = plan.kept;
  return {
    input: { storage: partials, shape: [...shape, plan.parts], strides: [...partialStrides(plan), 1], offset: 0 },
    axes: [shape.length],
    out: { storage: out.storage, shape: [...shape, 1], strides: [...strides[strides.length - 1]!, 0], offset: out.offset },
  };
}
