// Reductions over any axes: sum (with an optional fused expression), mean, max/min, prod,
// var/std, logsumexp, argmax/argmin.
import { fail, shapeStr } from '../core/errors.js';
import * as E from '../core/expr.js';
import { type Expr, input } from '../core/expr.js';
import { broadcastShapes, normalizeAxes, normalizeAxis, sizeOf } from '../core/shape.js';
import type { ReduceKind } from '../backends/backend.js';
import { attachGrad, isGradEnabled, noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyExpr, attachExprGrad, fuse } from './apply.js';
import { backendOf, empty, requireFloat, viewAs } from './util.js';
import { checkHalfUse } from './half-guard.js';
import { reshape } from './views.js';

export type Axes = number | readonly number[] | undefined;

function keptShape(full: readonly number[], axes: readonly number[]): number[] {
  return full.map((d, i) => (axes.includes(i) ? 1 : d));
}

function finalShape(full: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  return keepDims ? keptShape(full, axes) : full.filter((_, i) => !axes.includes(i));
}

/** Runs one reduce kernel; the result has the reduced axes kept as size 1. */
function rawReduce(op: string, kind: ReduceKind, expr: Expr, inputs: readonly Tensor[], axes: readonly number[], full: readonly number[], params?: readonly number[]): Tensor {
  const backend = backendOf(op, inputs);
  checkHalfUse(op, inputs, expr.dtype);
  const dtype = kind === 'argmax' || kind === 'argmin' ? 'int32' : expr.dtype === 'float32' ? 'float32' : 'int32';
  const out = empty(backend, keptShape(full, axes), dtype);
  backend.reduce(kind, expr, inputs.map((t) => viewAs(t, full)), axes, out.storageView, params);
  return out;
}

function dropAxes(t: Tensor, full: readonly number[], axes: readonly number[], keepDims: boolean): Tensor {
  if (keepDims) return t;
  const r = reshape(t, finalShape(full, axes, keepDims));
  return r;
}

/**
 * Sum over `axes` of a fused expression of the inputs (broadcast together), e.g. the sum of
 * squares in one pass. Differentiable in every float32 input.
 */
export function sumExpr(op: string, expr: Expr, inputs: readonly Tensor[], axesArg: Axes, keepDims = false, params?: readonly number[]): Tensor {
  const full = broadcastShapes(op, ...inputs.map((t) => t.shape));
  const axes = normalizeAxes(op, axesArg, full.length);
  const kept = rawReduce(op, 'sum', expr, inputs, axes, full, params);
  if (isGradEnabled() && expr.dtype === 'float32') {
    // d/dx_i sum(f) = broadcast(g) * df/dx_i: the elementwise rule with g read at stride 0
    attachExprGrad(kept, op, expr, inputs, params);
  }
  return dropAxes(kept, full, axes, keepDims);
}

/** Sum over axes (all if omitted). @example x.sum(-1, true) */
export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return sumExpr('sum', input(0, x.dtype), [x], axes, keepDims);
}

export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const ax = normalizeAxes('mean', axes, x.rank);
  const n = sizeOf(ax.map((a) => x.shape[a]!));
  return sumExpr('mean', E.div(E.cast(input(0, x.dtype), 'float32'), n), [x], ax, keepDims);
}

function extremum(op: 'max' | 'min', x: Tensor, axesArg: Axes, keepDims: boolean): Tensor {
  const axes = normalizeAxes(op, axesArg, x.rank);
  if (axes.some((a) => x.shape[a] === 0)) fail(op, `cannot reduce over an empty axis (shape ${shapeStr(x.shape)}, axes [${axes.join(', ')}])`);
  const kept = rawReduce(op, op, input(0, x.dtype), [x], axes, x.shape);
  // ties share the gradient equally, as PyTorch's amax/amin
  attachGrad(kept, op, [x], (g) => noGrad(() => {
    const hit = E.binary('eq', input(0), input(1));
    const count = sumExpr(`${op} (gradient)`, E.cast(hit, 'float32'), [x, kept], axes, true);
    return [applyExpr(`${op} (gradient)`, E.where(hit, E.div(input(2), input(3)), 0), [x, kept, g, count])];
  }));
  return dropAxes(kept, x.shape, axes, keepDims);
}

export const max = (x: Tensor, axes?: Axes, keepDims = false) => extremum('max', x, axes, keepDims);
export const min = (x: Tensor, axes?: Axes, keepDims = false) => extremum('min', x, axes, keepDims);

/** Product over axes; its gradient is prod / x, so it assumes no zeros in x. */
export function prod(x: Tensor, axesArg?: Axes, keepDims = false): Tensor {
  const axes = normalizeAxes('prod', axesArg, x.rank);
  const kept = rawReduce('prod', 'prod', input(0, x.dtype), [x], axes, x.shape);
  if (x.dtype === 'float32') {
    attachGrad(kept, 'prod', [x], (g) => [applyExpr('prod (gradient)', E.mul(input(2), E.div(input(1), input(0))), [x, kept, g])]);
  }
  return dropAxes(kept, x.shape, axes, keepDims);
}

export interface VarianceOptions { keepDims?: boolean; /** subtracted from the count: 0 (default, as NumPy/Keras) or 1 (unbiased) */ correction?: number }

export function variance(x: Tensor, axes?: Axes, opts: VarianceOptions = {}): Tensor {
  requireFloat('var', x);
  const ax = normalizeAxes('var', axes, x.rank);
  const n = sizeOf(ax.map((a) => x.shape[a]!)) - (opts.correction ?? 0);
  const mu = mean(x, ax, true);
  const d = E.sub(input(0), input(1));
  return sumExpr('var', E.div(E.mul(d, d), n), [x, mu], ax, opts.keepDims ?? false);
}

export function std(x: Tensor, axes?: Axes, opts: VarianceOptions = {}): Tensor {
  return fuse('std', (v) => E.sqrt(v!), variance(x, axes, opts));
}

/** log(sum(exp(x))) over axes, stable for large x (shifted by the detached max). */
export function logsumexp(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  requireFloat('logsumexp', x);
  const ax = normalizeAxes('logsumexp', axes, x.rank);
  const m = noGrad(() => max(x, ax, true));
  const shift = E.where(E.binary('eq', E.unary('abs', input(1)), Infinity), 0, input(1));
  const s = sumExpr('logsumexp', E.exp(E.sub(input(0), shift)), [x, m], ax, true);
  const out = applyExpr('logsumexp', E.add(E.log(input(0)), E.where(E.binary('eq', E.unary('abs', input(1)), Infinity), 0, input(1))), [s, m]);
  return keepDims ? out : reshape(out, finalShape(x.shape, ax, false));
}

function argExtremum(op: 'argmax' | 'argmin', x: Tensor, axisArg: number | undefined, keepDims: boolean): Tensor {
  const flat = axisArg === undefined;
  const src = flat ? reshape(x, [x.size]) : x;
  const axis = flat ? 0 : normalizeAxis(op, axisArg, x.rank);
  if (src.shape[axis] === 0) fail(op, `cannot take ${op} over an empty axis (shape ${shapeStr(x.shape)})`);
  const kept = rawReduce(op, op, input(0, x.dtype), [src], [axis], src.shape);
  if (flat) return keepDims ? reshape(kept, x.shape.map(() => 1)) : reshape(kept, []);
  return dropAxes(kept, src.shape, [axis], keepDims);
}

/** Index of the largest value along axis (over the flattened tensor if omitted); int32. */
export const argmax = (x: Tensor, axis?: number, keepDims = false) => argExtremum('argmax', x, axis, keepDims);
export const argmin = (x: Tensor, axis?: number, keepDims = false) => argExtremum('argmin', x, axis, keepDims);
