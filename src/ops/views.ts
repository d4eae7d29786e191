// Shape ops that share storage where the strides allow: reshape, permute, expand, slice...
import { noteOp } from '../backends/trace.js';
import { fail, shapeStr } from '../core/errors.js';
import { input } from '../core/expr.js';
import { broadcastShapes, broadcastStrides, checkShape, contiguousStrides, normalizeAxes, normalizeAxis, sameShape, sizeOf } from '../core/shape.js';
import { attachGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { evalSumTo, fillLike } from './apply.js';
import { backendOf, empty, viewAs } from './util.js';

/**
 * Strides for reading `t` with `shape` without a copy, or null if its layout does not allow
 * it: old dimensions are grouped into runs that are contiguous with each other, and each run
 * must be covered exactly by consecutive new dimensions.
 */
function viewStrides(t: Tensor, shape: readonly number[]): number[] | null {
  const oldShape = t.shape, oldStrides = t.strides;
  if (oldShape.length === 0 || t.size === 0) return contiguousStrides(shape);
  const strides = new Array<number>(shape.length);
  let d = shape.length - 1;
  let base = oldStrides[oldShape.length - 1]!;
  let oldCount = 1, newCount = 1;
  for (let o = oldShape.length - 1; o >= 0; o--) {
    oldCount *= oldShape[o]!;
    const runEnds = o === 0 || (oldShape[o - 1] !== 1 && oldStrides[o - 1] !== oldCount * base);
    if (!runEnds) continue;
    while (d >= 0 && (newCount < oldCount || shape[d] === 1)) {
      strides[d] = newCount * base;
      newCount *= shape[d]!;
      d--;
    }
    if (newCount !== oldCount) return null;
    if (o > 0) {
      base = oldStrides[o - 1]!;
      oldCount = 1;
      newCount = 1;
    }
  }
  return d === -1 ? strides : null;
}

function resolveShape(op: string, t: Tensor, shapeArg: readonly number[]): number[] {
  const shape = [...shapeArg];
  const infer = shape.indexOf(-1);
  if (infer >= 0) {
    if (shape.indexOf(-1, infer + 1) >= 0) fail(op, `only one dimension can be -1, got ${shapeStr(shapeArg)}`);
    const known = sizeOf(shape.filter((_, i) => i !== infer));
    if (known === 0 || t.size % known !== 0) fail(op, `cannot reshape ${shapeStr(t.shape)} (${t.size} elements) to ${shapeStr(shapeArg)}`);
    shape[infer] = t.size / known;
  }
  checkShape(op, shape);
  if (sizeOf(shape) !== t.size) fail(op, `cannot reshape ${shapeStr(t.shape)} (${t.size} elements) to ${shapeStr(shapeArg)} (${sizeOf(shape)} elements)`);
  return shape;
}

function withGrad(out: Tensor, op: string, x: Tensor, back: (g: Tensor) => Tensor): Tensor {
  return attachGrad(out, op, [x], (g) => [back(g)]);
}

/** A contiguous copy (or x itself if already contiguous). */
export function contiguous(x: Tensor): Tensor {
  backendOf('contiguous', [x], false);
  if (sameShape(x.strides.filter((_, i) => x.shape[i] !== 1), contiguousStrides(x.shape).filter((_, i) => x.shape[i] !== 1))) return x;
  noteOp('contiguous', x.device);
  const out = empty(x.backend, x.shape, x.dtype);
  x.backend.elementwise([input(0, x.dtype)], [x.storageView], [out.storageView]);
  return withGrad(out, 'contiguous', x, (g) => g);
}

/** Same elements, new shape (one dimension may be -1); shares storage when the layout allows. */
export function reshape(x: Tensor, shapeArg: readonly number[]): Tensor {
  backendOf('reshape', [x], false);
  const shape = resolveShape('reshape', x, shapeArg);
  const strides = viewStrides(x, shape);
  const src = strides ? x : contiguous(x);
  const out = src.withView(shape, strides ?? contiguousStrides(shape), src.offset);
  return withGrad(out, 'reshape', src, (g) => reshape(g, src.shape));
}

/** Like reshape, but an error instead of a copy when the layout does not allow a view. */
export function view(x: Tensor, shapeArg: readonly number[]): Tensor {
  backendOf('view', [x], false);
  const shape = resolveShape('view', x, shapeArg);
  const strides = viewStrides(x, shape);
  if (!strides) fail('view', `a tensor of shape ${shapeStr(x.shape)} with strides [${x.strides.join(', ')}] cannot be viewed as ${shapeStr(shape)} without a copy; use reshape()`);
  return withGrad(x.withView(shape, strides, x.offset), 'view', x, (g) => reshape(g, x.shape));
}

/** Merges axes startAxis..endAxis into one. */
export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeAxis('flatten', startAxis, x.rank), e = normalizeAxis('flatten', endAxis, x.rank);
  if (s > e) fail('flatten', `startAxis ${startAxis} comes after endAxis ${endAxis}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Removes size-1 axes (all of them, or the ones named). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const ax = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normalizeAxes('squeeze', axes, x.rank);
  for (const a of ax) if (x.shape[a] !== 1) fail('squeeze', `axis ${a} has size ${x.shape[a]}, not 1 (shape ${shapeStr(x.shape)})`);
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
}

/** Inserts a size-1 axis at `axis` (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Reorders axes without copying. @example x.permute([0, 2, 1]) */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  backendOf('permute', [x], false);
  if (perm.length !== x.rank) fail('permute', `permutation [${perm.join(', ')}] has ${perm.length} entries for a tensor of rank ${x.rank}`);
  const p = perm.map((a) => normalizeAxis('permute', a, x.rank));
  if (new Set(p).size !== p.length) fail('permute', `[${perm.join(', ')}] is not a permutation`);
  const out = x.withView(p.map((a) => x.shape[a]!), p.map((a) => x.strides[a]!), x.offset);
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => { inverse[a] = i; });
  return withGrad(out, 'permute', x, (g) => permute(g, inverse));
}

/** Reverses the axes, or applies `perm`. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  return permute(x, perm ?? x.shape.map((_, i) => x.rank - 1 - i));
}

/** Swaps two axes. */
export function swapAxes(x: Tensor, a: number, b: number): Tensor {
  const p = x.shape.map((_, i) => i);
  const i = normalizeAxis('swapAxes', a, x.rank), j = normalizeAxis('swapAxes', b, x.rank);
  [p[i], p[j]] = [p[j]!, p[i]!];
  return permute(x, p);
}

/** Broadcasts to `shape` without copying (stride 0 on repeated axes). */
export function expand(x: Tensor, shapeArg: readonly number[]): Tensor {
  backendOf('expand', [x], false);
  const shape = shapeArg.map((d, i) => (d === -1 ? x.shape[i - (shapeArg.length - x.rank)] ?? 1 : d));
  const full = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(full, shape)) fail('expand', `cannot expand ${shapeStr(x.shape)} to ${shapeStr(shapeArg)}`);
  if (sameShape(x.shape, shape)) return x;
  const out = x.withView(shape, broadcastStrides(x.shape, x.strides, shape), x.offset);
  return withGrad(out, 'expand', x, (g) => evalSumTo('expand (gradient)', input(0), [g], x.shape));
}
export const broadcastTo = expand;

/** One axis of a slice: an index (drops the axis), a [start, stop, step] range, or null (all). */
export type SliceRange = number | null | readonly [start?: number | null, stop?: number | null, step?: number];

interface AxisSlice { start: number; count: number; step: number; drop: boolean }

function resolveRange(axis: number, size: number, r: SliceRange | undefined): AxisSlice {
  if (r === undefined || r === null) return { start: 0, count: size, step: 1, drop: false };
  if (typeof r === 'number') {
    const i = r < 0 ? r + size : r;
    if (!Number.isInteger(r) || i < 0 || i >= size) fail('slice', `index ${r} is out of range for axis ${axis} of size ${size}`);
    return { start: i, count: 1, step: 1, drop: true };
  }
  const step = r[2] ?? 1;
  if (!Number.isInteger(step) || step === 0) fail('slice', `step must be a non-zero integer, got ${step} (axis ${axis})`);
  // Python slice semantics, negative indices counting from the end
  const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + size : v, lo), hi);
  const start = r[0] == null ? (step > 0 ? 0 : size - 1) : clampIdx(r[0], step > 0 ? 0 : -1, step > 0 ? size : size - 1);
  const stop = r[1] == null ? (step > 0 ? size : -1) : clampIdx(r[1], step > 0 ? 0 : -1, step > 0 ? size : size - 1);
  const count = Math.max(0, Math.ceil((stop - start) / step));
  return { start, count, step, drop: false };
}

function sliceView(x: Tensor, parts: readonly AxisSlice[]): Tensor {
  let offset = x.offset;
  const shape: number[] = [], strides: number[] = [];
  parts.forEach((p, d) => {
    if (p.count > 0) offset += p.start * x.strides[d]!;
    if (p.drop) return;
    shape.push(p.count);
    strides.push(p.step * x.strides[d]!);
  });
  return x.withView(shape, strides, offset);
}

/**
 * Slices without copying; negative indices count from the end; steps may be negative.
 * @example x.slice([null, [0, -1], [null, null, -1]]) // all rows, drop last column, reversed last axis
 */
export function slice(x: Tensor, ranges: readonly SliceRange[]): Tensor {
  backendOf('slice', [x], false);
  if (ranges.length > x.rank) fail('slice', `${ranges.length} ranges for a tensor of rank ${x.rank} (shape ${shapeStr(x.shape)})`);
  const parts = x.shape.map((size, d) => resolveRange(d, size, ranges[d]));
  const out = sliceView(x, parts);
  return withGrad(out, 'slice', x, (g) => {
    const full = fillLike(g, x.shape, 0);
    const target = sliceView(full, parts);
    g.backend.elementwise([input(0)], [viewAs(g, target.shape)], [target.storageView]);
    target.dispose();
    return full;
  });
}
