// Activation functions, each one fused kernel forward and one backward.
import * as E from '../core/expr.js';
import type { Tensor } from '../tensor/tensor.js';
import { fuse } from './apply.js';

/** max(x, 0), with gradient 0 at x = 0 (as PyTorch and TensorFlow). */
export function relu(x: Tensor): Tensor {
  return fuse('relu', (a) => E.where(E.binary('gt', a!, 0), a!, 0), x);
}

/** x for x > 0, alpha * x otherwise (alpha 0.2, TensorFlow.js's default). */
export function leakyRelu(x: Tensor, alpha = 0.2): Tensor {
  return fuse('leakyRelu', (a) => E.where(E.binary('gt', a!, 0), a!, E.mul(alpha, a!)), x);
}

export function elu(x: Tensor, alpha = 1): Tensor {
  return fuse('elu', (a) => E.where(E.binary('gt', a!, 0), a!, E.mul(alpha, E.sub(E.exp(a!), 1))), x);
}

/** Exact GELU: x * Phi(x), with the Gaussian CDF through erf. */
export function gelu(x: Tensor): Tensor {
  return fuse('gelu', (a) => E.mul(E.mul(0.5, a!), E.add(1, E.unary('erf', E.mul(a!, Math.SQRT1_2)))), x);
}

/** x * sigmoid(x), also known as swish. */
export function silu(x: Tensor): Tensor {
  return fuse('silu', (a) => E.mul(a!, E.unary('sigmoid', a!)), x);
}

export function sigmoid(x: Tensor): Tensor {
  return fuse('sigmoid', (a) => E.unary('sigmoid', a!), x);
}

export function tanh(x: Tensor): Tensor {
  return fuse('tanh', (a) => E.unary('tanh', a!), x);
}

/** log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) so large |x| stays finite. */
export function softplus(x: Tensor): Tensor {
  return fuse('softplus', (a) => E.add(E.binary('max', a!, 0), E.unary('log1p', E.exp(E.neg(E.unary('abs', a!))))), x);
}
