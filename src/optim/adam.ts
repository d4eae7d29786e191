// Adam and AdamW: moments and weights updated by one fused kernel per parameter.
import * as E from '../core/expr.js';
import { assignExpr } from '../ops/apply.js';
import type { Tensor } from '../tensor/tensor.js';
import { FRACTION, NON_NEGATIVE, Optimizer, type OptimizerOptions } from './optimizer.js';

export interface AdamOptions extends OptimizerOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** decoupled weight decay (AdamW) */
  weightDecay?: number;
}

/** Optimizer state below this is treated as zero (see flushToZero). */
export const NEGLIGIBLE = 1e-30;

// inputs: p, g, m, v; params: step size, beta1, beta2, 1/sqrt(1 - beta2^t), epsilon, lr * weightDecay
const p = E.input(0), g = E.input(1), m = E.input(2), v = E.input(3);
const [stepSize, b1, b2, vScale, eps, decay] = [0, 1, 2, 3, 4, 5].map(E.param) as [E.Expr, E.Expr, E.Expr, E.Expr, E.Expr, E.Expr];
// moments below 1e-30 move no weight, and once products like stepSize * m go subnormal every
// update of that element runs at a fraction of the speed: they become exactly 0
const newM = E.flushToZero(E.add(E.mul(b1, m), E.mul(E.sub(1, b1), g)), NEGLIGIBLE);
const newV = E.flushToZero(E.add(E.mul(b2, v), E.mul(E.mul(E.sub(1, b2), g), g)), NEGLIGIBLE);
const newP = E.sub(E.sub(p, E.mul(decay, p)), E.div(E.mul(stepSize, newM), E.add(E.mul(E.sqrt(newV), vScale), eps)));

export class Adam extends Optimizer {
  protected readonly slots = 2;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;

  constructor(opts: AdamOptions = {}, name = 'adam') {
    super(name, 1e-3, opts, { beta1: FRACTION, beta2: FRACTION, epsilon: NON_NEGATIVE, weightDecay: NON_NEGATIVE });
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    // PyTorch's default; Keras uses 1e-7
    this.epsilon = opts.epsilon ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? (name === 'adamw' ? 0.01 : 0);
  }

  protected stepParams(lr: number, step: number): number[] {
    return [lr / (1 - this.beta1 ** step), this.beta1, this.beta2, 1 / Math.sqrt(1 - this.beta2 ** step), this.epsilon, lr * this.weightDecay];
  }

  protected update(param: Tensor, grad: Tensor, [mt, vt]: Tensor[], params: readonly number[]): void {
    assignExpr('adam', [param, mt!, vt!], [newP, newM, newV], [param, grad, mt!, vt!], params);
  }
}

/** Adam. @example tsr.optimizers.adam({ learningRate: 1e-3 }) */
export const adam = (opts: AdamOptions = {}) => new Adam(opts);
/** Adam with decoupled weight decay (default 0.01). */
export const adamw = (opts: AdamOptions = {}) => new Adam(opts, 'adamw');
