// Activation functions as expressions: each is one fused kernel forward and one backward,
// and layers fuse them with their bias add.
import * as E from '../core/expr.js';
import { fail } from '../core/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyExpr, fuse } from './apply.js';

type Act = (a: E.Expr) => E.Expr;

/** The activations layers accept by name (Keras's names). */
export const ACTIVATIONS = {
  linear: (a) => a,
  // NaN stays NaN and the gradient at x = 0 is 0, as PyTorch and TensorFlow
  relu: (a) => E.where(E.binary('le', a, 0), 0, a),
  leakyRelu: (a) => E.where(E.binary('gt', a, 0), a, E.mul(0.2, a)),
  elu: (a) => E.where(E.binary('gt', a, 0), a, E.sub(E.exp(a), 1)),
  gelu: (a) => E.mul(E.mul(0.5, a), E.add(1, E.unary('erf', E.mul(a, Math.SQRT1_2)))),
  silu: (a) => E.mul(a, E.unary('sigmoid', a)),
  sigmoid: (a) => E.unary('sigmoid', a),
  tanh: (a) => E.unary('tanh', a),
  // max(x, 0) + log1p(exp(-|x|)) keeps large |x| finite
  softplus: (a) => E.add(E.binary('max', a, 0), E.unary('log1p', E.exp(E.neg(E.unary('abs', a))))),
} satisfies Record<string, Act>;

export type ActivationName = keyof typeof ACTIVATIONS;

export function activationExpr(name: string): Act {
  const act = (ACTIVATIONS as Record<string, Act>)[name];
  if (!act) fail('activation', `unknown activation '${name}' (expected one of ${Object.keys(ACTIVATIONS).join(', ')})`);
  return act;
}

const unary = (name: ActivationName) => (x: Tensor) => fuse(name, (a) => ACTIVATIONS[name](E.lift(a!)), x);

/** max(x, 0). */
export const relu = unary('relu');
export const gelu = unary('gelu');
/** x * sigmoid(x), also known as swish. */
export const silu = unary('silu');
export const sigmoid = unary('sigmoid');
export const tanh = unary('tanh');
/** log(1 + exp(x)). */
export const softplus = unary('softplus');

/** x for x > 0, alpha * x otherwise (alpha 0.2, TensorFlow.js's default). */
export function leakyRelu(x: Tensor, alpha = 0.2): Tensor {
  return fuse('leakyRelu', (a) => E.where(E.binary('gt', a!, 0), a!, E.mul(alpha, a!)), x);
}

export function elu(x: Tensor, alpha = 1): Tensor {
  return fuse('elu', (a) => E.where(E.binary('gt', a!, 0), a!, E.mul(alpha, E.sub(E.exp(a!), 1))), x);
}

/** activation(y + bias) as one kernel (bias broadcast over the last axis); layers end with it. */
export function biasActivation(op: string, y: Tensor, bias: Tensor | undefined, activation: string): Tensor {
  const act = activationExpr(activation);
  if (bias) return applyExpr(op, act(E.add(E.input(0), E.input(1))), [y, bias]);
  return activation === 'linear' ? y : fuse(op, (a) => act(E.lift(a!)), y);
}
