// Activation functions as expressions: each is one fused kernel forward and one backward,
// and layers fuse them with their bias add.
import * as E from '../core/expr.js';
import { fail } from '../core/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyExpr, fuse } from './apply.js';
import { softmax } from './nn.js';

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
  softplus: (a) => softplusExpr(a),
  // min(max(x, 0), 6), NaN staying NaN
  relu6: (a) => E.where(E.binary('le', a, 0), 0, E.where(E.binary('ge', a, 6), 6, a)),
  // scale * (x > 0 ? x : alpha * (exp(x) - 1)), the self-normalising constants
  selu: (a) => E.mul(SELU_SCALE, E.where(E.binary('gt', a, 0), a, E.mul(SELU_ALPHA, E.sub(E.exp(a), 1)))),
  swish: (a) => E.mul(a, E.unary('sigmoid', a)),
  mish: (a) => E.mul(a, E.unary('tanh', softplusExpr(a))),
  // clip(x / 6 + 1/2, 0, 1), as Keras 3 and PyTorch (TF.js 3 used 0.2 x + 0.5)
  hardSigmoid: (a) => E.binary('min', E.binary('max', E.add(E.div(a, 6), 0.5), 0), 1),
  softsign: (a) => E.div(a, E.add(1, E.unary('abs', a))),
  exponential: (a) => E.exp(a),
} satisfies Record<string, Act>;

const SELU_ALPHA = 1.6732632423543772, SELU_SCALE = 1.0507009873554805;

function softplusExpr(a: E.Expr): E.Expr {
  return E.add(E.binary('max', a, 0), E.unary('log1p', E.exp(E.neg(E.unary('abs', a)))));
}

export type ActivationName = keyof typeof ACTIVATIONS;
/** What a layer's `activation` takes: the elementwise ones, and softmax over the last axis. */
export type LayerActivation = ActivationName | 'softmax';

export function activationExpr(name: string): Act {
  const act = (ACTIVATIONS as Record<string, Act>)[name];
  if (!act) fail('activation', `unknown activation '${name}' (expected one of ${[...Object.keys(ACTIVATIONS), 'softmax'].join(', ')})`);
  return act;
}

/** Checks a layer's activation name (elementwise, or softmax). */
export function checkActivation(name: string): LayerActivation {
  if (name !== 'softmax') activationExpr(name);
  return name as LayerActivation;
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
/** min(max(x, 0), 6). */
export const relu6 = unary('relu6');
/** Scaled exponential linear unit (the self-normalising constants). */
export const selu = unary('selu');
/** x * tanh(softplus(x)). */
export const mish = unary('mish');
/** clip(x / 6 + 0.5, 0, 1). */
export const hardSigmoid = unary('hardSigmoid');
/** x / (1 + |x|). */
export const softsign = unary('softsign');
/** x * sigmoid(x) (the same as silu). */
export const swish = unary('swish');

/** x for x > 0, alpha * x otherwise (alpha 0.2, TensorFlow.js's default). */
export function leakyRelu(x: Tensor, alpha = 0.2): Tensor {
  return fuse('leakyRelu', (a) => E.where(E.binary('gt', a!, 0), a!, E.mul(alpha, a!)), x);
}

export function elu(x: Tensor, alpha = 1): Tensor {
  return fuse('elu', (a) => E.where(E.binary('gt', a!, 0), a!, E.mul(alpha, E.sub(E.exp(a!), 1))), x);
}

/**
 * activation(y + bias) as one kernel (bias broadcast over the last axis); layers end with it.
 * softmax, which normalises over the last axis, follows the bias add.
 */
export function biasActivation(op: string, y: Tensor, bias: Tensor | undefined, activation: string): Tensor {
  if (activation === 'softmax') {
    const z = bias ? applyExpr(op, E.add(E.input(0), E.input(1)), [y, bias]) : y;
    return softmax(z, -1);
  }
  const act = activationExpr(activation);
  if (bias) return applyExpr(op, act(E.add(E.input(0), E.input(1))), [y, bias]);
  return activation === 'linear' ? y : fuse(op, (a) => act(E.lift(a!)), y);
}
