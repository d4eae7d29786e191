// Neural-network composites: softmax family, cross-entropy, normalisation, dropout. Each is
// built from fused expressions and reductions, so gradients come from their parts.
import { fail, shapeStr } from '../core/errors.js';
import * as E from '../core/expr.js';
import { input } from '../core/expr.js';
import { normalizeAxes, normalizeAxis, sizeOf } from '../core/shape.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyExpr } from './apply.js';
import { arange } from './creation.js';
import { checkIndexRange } from './indexing.js';
import { draw } from './random.js';
import { type Axes, max, mean, sumExpr } from './reduce.js';
import { requireFloat } from './util.js';
import { reshape } from './views.js';

/** exp(x - max) summed along axis (kept), with the detached max: the shared softmax pieces. */
function softmaxParts(op: string, x: Tensor, axis: number): { m: Tensor; s: Tensor; a: number } {
  requireFloat(op, x);
  const a = normalizeAxis(op, axis, x.rank);
  const m = noGrad(() => max(x, a, true));
  const s = sumExpr(op, E.exp(E.sub(input(0), input(1))), [x, m], a, true);
  return { m, s, a };
}

/** exp(x) / sum(exp(x)) along axis, in three kernels. */
export function softmax(x: Tensor, axis = -1): Tensor {
  if (x.size === 0) return x;
  const { m, s } = softmaxParts('softmax', x, axis);
  return applyExpr('softmax', E.div(E.exp(E.sub(input(0), input(1))), input(2)), [x, m, s]);
}

/** x - logsumexp(x) along axis. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  if (x.size === 0) return x;
  const { m, s } = softmaxParts('logSoftmax', x, axis);
  return applyExpr('logSoftmax', E.sub(E.sub(input(0), input(1)), E.log(input(2))), [x, m, s]);
}

export type Reduction = 'mean' | 'sum' | 'none';

/**
 * Cross-entropy from logits [N, C]: labels are int32 class indices [N] or float
 * probabilities/one-hot rows [N, C].
 * @example tsr.crossEntropy(logits, labels) // mean over the batch
 */
export function crossEntropy(logits: Tensor, labels: Tensor, reduction: Reduction = 'mean'): Tensor {
  const op = 'crossEntropy';
  requireFloat(op, logits);
  if (logits.rank !== 2) fail(op, `logits must be [N, C], got ${shapeStr(logits.shape)}`);
  const [n, c] = logits.shape as [number, number];
  const { m, s } = softmaxParts(op, logits, 1);
  // logsumexp per row, [N, 1]
  const lse = applyExpr(op, E.add(E.log(input(0)), input(1)), [s, m]);
  let perRow: Tensor;
  if (labels.dtype === 'int32') {
    if (labels.rank !== 1 || labels.shape[0] !== n) fail(op, `integer labels must be [${n}] for logits ${shapeStr(logits.shape)}, got ${shapeStr(labels.shape)}`);
    // out-of-range labels would silently pick nothing
    checkIndexRange(op, labels, c, (v, p) => `label ${v} at position ${p} is out of range for ${c} classes`);
    const classes = arange(0, c, 1, { device: logits.device });
    // loss_i = lse_i - x[i, label_i], the pick fused into one reduction
    const picked = E.where(E.binary('eq', input(2, 'int32'), input(3, 'int32')), E.sub(input(1), input(0)), 0);
    perRow = sumExpr(op, picked, [logits, lse, reshape(labels, [n, 1]), reshape(classes, [1, c])], 1);
  } else {
    if (labels.rank !== 2 || labels.shape[0] !== n || labels.shape[1] !== c) fail(op, `probability labels must be ${shapeStr(logits.shape)}, got ${shapeStr(labels.shape)} ${labels.dtype}`);
    requireFloat(op, labels);
    perRow = sumExpr(op, E.mul(input(2), E.sub(input(1), input(0))), [logits, lse, labels], 1);
  }
  if (reduction === 'none') return perRow;
  if (reduction === 'sum') return sumExpr(op, input(0), [perRow], undefined);
  return mean(perRow);
}

/** Mean and (biased) variance over axes, kept as size 1. */
export function moments(x: Tensor, axes: Axes, keepDims = true): { mean: Tensor; variance: Tensor } {
  requireFloat('moments', x);
  const ax = normalizeAxes('moments', axes, x.rank);
  const n = sizeOf(ax.map((a) => x.shape[a]!));
  const mu = mean(x, ax, true);
  const d = E.sub(input(0), input(1));
  const v = sumExpr('moments', E.div(E.mul(d, d), n), [x, mu], ax, true);
  if (keepDims) return { mean: mu, variance: v };
  const shape = x.shape.filter((_, i) => !ax.includes(i));
  return { mean: reshape(mu, shape), variance: reshape(v, shape) };
}

/** (x - mean) / sqrt(variance + eps) * gamma + beta, as one kernel; all broadcast together. */
export function normalize(x: Tensor, mu: Tensor, variance: Tensor, gamma?: Tensor, beta?: Tensor, eps = 1e-5): Tensor {
  let e = E.mul(E.sub(input(0), input(1)), E.unary('rsqrt', E.add(input(2), eps)));
  const ins = [x, mu, variance];
  if (gamma) e = E.mul(e, input(ins.push(gamma) - 1));
  if (beta) e = E.add(e, input(ins.push(beta) - 1));
  return applyExpr('normalize', e, ins);
}

/** Layer normalisation over the trailing `axes` (default the last). */
export function layerNorm(x: Tensor, gamma?: Tensor, beta?: Tensor, opts: { axes?: Axes; eps?: number } = {}): Tensor {
  const { mean: mu, variance } = moments(x, opts.axes ?? -1, true);
  return normalize(x, mu, variance, gamma, beta, opts.eps ?? 1e-3);
}

/** Batch normalisation with given statistics (NHWC: channels last); see nn layers for running stats. */
export function batchNorm(x: Tensor, mu: Tensor, variance: Tensor, gamma?: Tensor, beta?: Tensor, eps = 1e-3): Tensor {
  return normalize(x, mu, variance, gamma, beta, eps);
}

/** Zeroes each element with probability `rate` and scales the rest by 1/(1-rate). */
export function dropout(x: Tensor, rate: number, opts: { seed?: number; state?: number[] } = {}): Tensor {
  if (!(rate >= 0 && rate < 1)) fail('dropout', `rate must be in [0, 1), got ${rate}`);
  if (rate === 0) return x;
  const u = draw('dropout', 'uniform', x.shape, { seed: opts.seed, state: opts.state, device: x.device });
  const out = applyExpr('dropout', E.where(E.binary('ge', input(1), rate), E.mul(input(0), 1 / (1 - rate)), 0), [x, u]);
  return out;
}
