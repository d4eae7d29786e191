// The fused elementwise engine: evaluates one expression over broadcast inputs as one kernel,
// and differentiates it symbolically (each input's gradient is again one fused kernel,
// with the reduction over broadcast axes folded in).
import type { DType } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
import { type Expr, type ExprLike, exprKey, input } from '../core/expr.js';
import { exprVjp } from '../core/expr-grad.js';
import { type Shape, broadcastShapes, sameShape } from '../core/shape.js';
import { attachGrad, isGradEnabled } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { checkHalfUse } from './half-guard.js';
import { type TensorLike, backendOf, empty, viewAs } from './util.js';
import { shown } from '../core/validate.js';

const vjpCache = new Map<string, Map<number, Expr>>();

function vjpOf(expr: Expr, nInputs: number): Map<number, Expr> {
  const key = `${exprKey(expr)}#${nInputs}`;
  let v = vjpCache.get(key);
  if (!v) vjpCache.set(key, (v = exprVjp(expr, input(nInputs, 'float32'))));
  return v;
}

/** Axes of `full` that must be summed to produce a tensor of `target`'s shape. */
function reducedAxes(full: Shape, target: Shape): number[] {
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
  const exprArgs = args.map((a) => {
    if (typeof a === 'number') return a;
    if (!(a instanceof Tensor)) fail(op, `expected a Tensor or a number, got ${shown(a)}`);
    return input(tensors.push(a) - 1, a.dtype);
  });
  return applyExpr(op, build(...exprArgs), tensors);
}

export function applyExpr(op: string, expr: Expr, inputs: readonly Tensor[], params?: readonly number[]): Tensor {
  const backend = backendOf(op, inputs);
  checkHalfUse(op, inputs, expr.dtype);
  const shape = broadcastShapes(op, ...inputs.map((t) => t.shape));
  const out = empty(backend, shape, expr.dtype);
  backend.elementwise([expr], inputs.map((t) => viewAs(t, shape)), [out.storageView], params);
  if (isGradEnabled() && expr.dtype === 'float32') attachExprGrad(out, op, expr, inputs, params);
  return out;
}

/**
 * Gradient rule for any fused expression: input i gets sum-to-shape(vjp_i(inputs, g)). Inputs
 * whose gradient expressions coincide (a + b, a bias add) share one evaluation: the
 * full-shape gradient is computed once and the broadcast input sums it.
 */
export function attachExprGrad(out: Tensor, op: string, expr: Expr, inputs: readonly Tensor[], params?: readonly number[]): void {
  attachGrad(out, op, inputs, (g, needs) => {
    const vjp = vjpOf(expr, inputs.length);
    const all = [...inputs, g];
    const full = broadcastShapes(op, ...all.map((t) => t.shape));
    const fullGrads = new Map<string, Tensor>();
    const want = inputs.map((x, i) => (needs[i] && x.dtype === 'float32' ? vjp.get(i) : undefined));
    // full-shape gradients first, so broadcast inputs can reuse them
    const order = inputs.map((_, i) => i).sort((a, b) => Number(!sameShape(inputs[a]!.shape, full)) - Number(!sameShape(inputs[b]!.shape, full)));
    const result: (Tensor | null)[] = inputs.map(() => null);
    for (const i of order) {
      const gi = want[i];
      if (!gi) continue;
      const key = exprKey(gi);
      const shared = fullGrads.get(key);
      if (shared) {
        result[i] = evalSumTo(`${op} (gradient)`, input(0), [shared], inputs[i]!.shape);
      } else {
        result[i] = evalSumTo(`${op} (gradient)`, gi, all, inputs[i]!.shape, params);
        if (sameShape(inputs[i]!.shape, full)) fullGrads.set(key, result[i]!);
      }
    }
    return result;
  });
}

/** A tensor of `shape` filled with a constant, on the given tensor's device. */
export function fillLike(like: Tensor, shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  const out = empty(like.backend, shape, dtype);
  out.backend.elementwise([{ kind: 'const', value, dtype }], [], [out.storageView]);
  return out;
}

/**
 * In-place fused update: targets[k] = exprs[k](inputs) in one kernel, outside autograd
 * (optimizer steps). Inputs may include the targets themselves.
 */
export function assignExpr(op: string, targets: readonly Tensor[], exprs: readonly Expr[], inputs: readonly Tensor[], params?: readonly number[]): void {
  const backend = backendOf(op, [...targets, ...inputs]);
  const shape = targets[0]!.shape;
  for (const t of targets) {
    if (!sameShape(t.shape, shape)) fail(op, `update targets differ in shape: ${shapeStr(t.shape)} vs ${shapeStr(shape)}`);
  }
  backend.elementwise(exprs, inputs.map((t) => viewAs(t, shape)), targets.map((t) => t.storageView), params);
}
