// The fused elementwise engine: evaluates one expression over broadcast inputs as one kernel,
// and differentiates it symbolically (each input's gradient is again one fused kernel,
// with the reduction over broadcast axes folded in).
import type { DType } from '../core/dtype.js';
import { type Expr, type ExprLike, exprKey, input } from '../core/expr.js';
import { exprVjp } from '../core/expr-grad.js';
import { type Shape, broadcastShapes, sameShape } from '../core/shape.js';
import { attachGrad, isGradEnabled } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { type TensorLike, backendOf, empty, viewAs } from './util.js';

const vjpCache = new Map<string, Map<number, Expr>>();

function vjpOf(expr: Expr, nInputs: number): Map<number, Expr> {
  const key = `${exprKey(expr)}#${nInputs}`;
  let v = vjpCache.get(key);
  if (!v) vjpCache.set(key, (v = exprVjp(expr, input(nInputs, 'float32'))));
  return v;
}

/** Axes of `full` that must be summed to produce a tensor of `target`'s shape. */
export function reducedAxes(full: Shape, target: Shape): number[] {
  const lead = full.length - target.length;
  const axes: number[] = [];
  for (let d = 0; d < full.length; d++) {
    if (d < lead || (target[d - lead] === 1 && full[d] !== 1)) axes.push(d);
  }
  return axes;
}

/** Evaluates expr over the broadcast inputs and sums the result down to `target` (no autograd). */
export function evalSumTo(op: string, expr: Expr, inputs: readonly Tensor[], target: Shape, params?: readonly number[]): Tensor {
  const backend = backendOf(op, inputs);
  const full = broadcastShapes(op, ...inputs.map((t) => t.shape), target);
  const views = inputs.map((t) => viewAs(t, full));
  if (sameShape(full, target)) {
    const out = empty(backend, full, expr.dtype);
    backend.elementwise([expr], views, [out.storageView], params);
    return out;
  }
  const axes = reducedAxes(full, target);
  const keptShape = full.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = empty(backend, keptShape, expr.dtype === 'bool' ? 'int32' : expr.dtype);
  backend.reduce('sum', expr, views, axes, out.storageView, params);
  const result = out.withView(target, out.strides.slice(full.length - target.length), 0);
  out.dispose();
  return result;
}

/**
 * Applies a fused expression to tensors; differentiable in every float32 input.
 * Numbers in `args` become constants of the expression.
 */
export function fuse(op: string, build: (...xs: ExprLike[]) => Expr, ...args: TensorLike[]): Tensor {
  const tensors: Tensor[] = [];
  const exprArgs = args.map((a) => (typeof a === 'number' ? a : input(tensors.push(a) - 1, a.dtype)));
  return applyExpr(op, build(...exprArgs), tensors);
}

export function applyExpr(op: string, expr: Expr, inputs: readonly Tensor[], params?: readonly number[]): Tensor {
  const backend = backendOf(op, inputs);
  const shape = broadcastShapes(op, ...inputs.map((t) => t.shape));
  const out = empty(backend, shape, expr.dtype);
  backend.elementwise([expr], inputs.map((t) => viewAs(t, shape)), [out.storageView], params);
  if (isGradEnabled() && expr.dtype === 'float32') attachExprGrad(out, op, expr, inputs, params);
  return out;
}

/** Gradient rule for any fused expression: input i gets sum-to-shape(vjp_i(inputs, g)). */
export function attachExprGrad(out: Tensor, op: string, expr: Expr, inputs: readonly Tensor[], params?: readonly number[]): void {
  attachGrad(out, op, inputs, (g, needs) => {
    const vjp = vjpOf(expr, inputs.length);
    return inputs.map((x, i) => {
      const gi = vjp.get(i);
      if (!needs[i] || !gi || x.dtype !== 'float32') return null;
      return evalSumTo(`${op} (gradient)`, gi, [...inputs, g], x.shape, params);
    });
  });
}

/** A tensor of `shape` filled with a constant, on the given tensor's device. */
export function fillLike(like: Tensor, shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  const out = empty(like.backend, shape, dtype);
  out.backend.elementwise([{ kind: 'const', value, dtype }], [], [out.storageView]);
  return out;
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
