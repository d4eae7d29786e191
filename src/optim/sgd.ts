// SGD (momentum, Nesterov) and RMSprop, each one fused kernel per parameter.
import { fail } from '../core/errors.js';
import * as E from '../core/expr.js';
import { assignExpr } from '../ops/apply.js';
import type { Tensor } from '../tensor/tensor.js';
import { NEGLIGIBLE } from './adam.js';
import { FRACTION, NON_NEGATIVE, Optimizer, type OptimizerOptions } from './optimizer.js';

export interface SgdOptions extends OptimizerOptions { momentum?: number; nesterov?: boolean; weightDecay?: number }

const p = E.input(0), g = E.input(1), s = E.input(2);
const [lrP, mom, wd] = [0, 1, 2].map(E.param) as [E.Expr, E.Expr, E.Expr];
// PyTorch's formulation: buf = momentum * buf + g; step along buf (or g + momentum * buf for Nesterov)
const gDecayed = E.add(g, E.mul(wd, p));
const buf = E.flushToZero(E.add(E.mul(mom, s), gDecayed), NEGLIGIBLE);
const plainP = E.sub(p, E.mul(lrP, gDecayed));
const momentumP = E.sub(p, E.mul(lrP, buf));
const nesterovP = E.sub(p, E.mul(lrP, E.add(gDecayed, E.mul(mom, buf))));

export class SGD extends Optimizer {
  protected readonly slots: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(opts: SgdOptions = {}) {
    super('sgd', 0.01, opts, { momentum: FRACTION, nesterov: 'boolean', weightDecay: NON_NEGATIVE });
    this.momentum = opts.momentum ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && !this.momentum) fail('sgd', 'nesterov needs a momentum above 0 (as PyTorch)');
    this.weightDecay = opts.weightDecay ?? 0;
    this.slots = this.momentum ? 1 : 0;
  }

  protected stepParams(lr: number): number[] { return [lr, this.momentum, this.weightDecay]; }

  protected update(param: Tensor, grad: Tensor, slots: Tensor[], params: readonly number[]): void {
    if (!this.momentum) assignExpr('sgd', [param], [plainP], [param, grad], params);
    else assignExpr('sgd', [param, slots[0]!], [this.nesterov ? nesterovP : momentumP, buf], [param, grad, slots[0]!], params);
  }
}

export interface RmspropOptions extends OptimizerOptions { rho?: number; epsilon?: number; momentum?: number }

const [rLr, rho, rEps, rMom] = [0, 1, 2, 3].map(E.param) as [E.Expr, E.Expr, E.Expr, E.Expr];
const ms = E.flushToZero(E.add(E.mul(rho, s), E.mul(E.mul(E.sub(1, rho), g), g)), NEGLIGIBLE);
const mb = E.input(3);
const rStep = E.div(g, E.add(E.sqrt(ms), rEps));
const rBuf = E.flushToZero(E.add(E.mul(rMom, mb), rStep), NEGLIGIBLE);

export class RMSprop extends Optimizer {
  protected readonly slots = 2;
  readonly rho: number;
  readonly epsilon: number;
  readonly momentum: number;

  constructor(opts: RmspropOptions = {}) {
    super('rmsprop', 1e-3, opts, { rho: FRACTION, epsilon: NON_NEGATIVE, momentum: FRACTION });
    this.rho = opts.rho ?? 0.9;
    this.epsilon = opts.epsilon ?? 1e-7;
    this.momentum = opts.momentum ?? 0;
  }

  protected stepParams(lr: number): number[] { return [lr, this.rho, this.epsilon, this.momentum]; }

  protected update(param: Tensor, grad: Tensor, [sq, mbuf]: Tensor[], params: readonly number[]): void {
    assignExpr('rmsprop', [param, sq!, mbuf!], [E.sub(p, E.mul(rLr, rBuf)), ms, rBuf], [param, grad, sq!, mbuf!], params);
  }
}

/** @example tsr.optimizers.sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }) */
export const sgd = (opts: SgdOptions = {}) => new SGD(opts);
export const rmsprop = (opts: RmspropOptions = {}) => new RMSprop(opts);
