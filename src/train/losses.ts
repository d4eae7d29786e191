// Losses (Keras's names): each maps (predictions, targets) to a scalar mean over the batch.
import { type Description, describe, descriptionOf, rebuild } from '../core/described.js';
import { fail, shapeStr } from '../core/errors.js';
import * as E from '../core/expr.js';
import { input } from '../core/expr.js';
import { cast } from '../ops/arith.js';
import { crossEntropy, logSoftmax } from '../ops/nn.js';
import { sumExpr } from '../ops/reduce.js';
import type { Tensor } from '../tensor/tensor.js';

export type Loss = (yPred: Tensor, yTrue: Tensor) => Tensor;

function sameShapeOrFail(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    fail(op, `predictions ${shapeStr(a.shape)} and targets ${shapeStr(b.shape)} must have the same shape`);
  }
}

const asFloat = (t: Tensor) => (t.dtype === 'float32' ? t : cast(t, 'float32'));

/** Integer class labels [N] against scores [N, C]. */
export function sparseCategoricalCrossentropy(opts: { fromLogits?: boolean } = {}): Loss {
  return describe<Loss>((yPred, yTrue) => {
    const labels = yTrue.dtype === 'int32' ? yTrue : cast(yTrue, 'int32');
    if (opts.fromLogits) return crossEntropy(yPred, labels.rank === 2 && labels.shape[1] === 1 ? labels.reshape([-1]) : labels);
    // probabilities: log them first (clipped like Keras, so 0 does not give -Infinity)
    const logp = yPred.clip(1e-7, 1 - 1e-7).log();
    return crossEntropy(logSoftmax(logp, -1), labels.rank === 2 ? labels.reshape([-1]) : labels);
  }, 'sparseCategoricalCrossentropy', opts);
}

/** One-hot (or probability) targets [N, C] against scores [N, C]. */
export function categoricalCrossentropy(opts: { fromLogits?: boolean } = {}): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('categoricalCrossentropy', yPred, yTrue);
    if (opts.fromLogits) return crossEntropy(yPred, asFloat(yTrue));
    return crossEntropy(logSoftmax(yPred.clip(1e-7, 1 - 1e-7).log(), -1), asFloat(yTrue));
  }, 'categoricalCrossentropy', opts);
}

/** Binary targets in {0, 1} against probabilities or logits of the same shape. */
export function binaryCrossentropy(opts: { fromLogits?: boolean } = {}): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('binaryCrossentropy', yPred, yTrue);
    const x = input(0), t = input(1);
    // from logits: max(x, 0) - x t + log1p(exp(-|x|)), stable for large |x|
    const perElement = opts.fromLogits
      ? E.add(E.sub(E.binary('max', x, 0), E.mul(x, t)), E.unary('log1p', E.exp(E.neg(E.unary('abs', x)))))
      : E.neg(E.add(E.mul(t, E.log(E.binary('max', x, 1e-7))), E.mul(E.sub(1, t), E.log(E.binary('max', E.sub(1, x), 1e-7)))));
    return sumExpr('binaryCrossentropy', E.div(perElement, yPred.size), [yPred, asFloat(yTrue)], undefined);
  }, 'binaryCrossentropy', opts);
}

export function meanSquaredError(): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('meanSquaredError', yPred, yTrue);
    const d = E.sub(input(0), input(1));
    return sumExpr('meanSquaredError', E.div(E.mul(d, d), yPred.size), [yPred, asFloat(yTrue)], undefined);
  }, 'meanSquaredError');
}

export function meanAbsoluteError(): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('meanAbsoluteError', yPred, yTrue);
    return sumExpr('meanAbsoluteError', E.div(E.unary('abs', E.sub(input(0), input(1))), yPred.size), [yPred, asFloat(yTrue)], undefined);
  }, 'meanAbsoluteError');
}

/** Quadratic within delta of the target, linear beyond. */
export function huber(opts: { delta?: number } = {}): Loss {
  const delta = opts.delta ?? 1;
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('huber', yPred, yTrue);
    const a = E.unary('abs', E.sub(input(0), input(1)));
    const per = E.where(E.binary('le', a, delta), E.mul(0.5, E.mul(a, a)), E.sub(E.mul(delta, a), 0.5 * delta * delta));
    return sumExpr('huber', E.div(per, yPred.size), [yPred, asFloat(yTrue)], undefined);
  }, 'huber', opts);
}

/** Hinge loss for labels in {-1, 1} (labels 0 count as -1, so {0, 1} labels work too, as Keras converts them). */
export function hinge(): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('hinge', yPred, yTrue);
    const t = E.where(E.binary('eq', input(1), 0), -1, input(1));
    return sumExpr('hinge', E.div(E.binary('max', E.sub(1, E.mul(t, input(0))), 0), yPred.size), [yPred, asFloat(yTrue)], undefined);
  }, 'hinge');
}

/** log(cosh(prediction - target)), about d²/2 for small errors and |d| - log 2 for large ones. */
export function logcosh(): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('logcosh', yPred, yTrue);
    const d = E.sub(input(0), input(1));
    // d + softplus(-2d) - log 2: no overflow of cosh for large |d|
    const m = E.mul(-2, d);
    const per = E.sub(E.add(d, E.add(E.binary('max', m, 0), E.unary('log1p', E.exp(E.neg(E.unary('abs', m)))))), Math.LN2);
    return sumExpr('logcosh', E.div(per, yPred.size), [yPred, asFloat(yTrue)], undefined);
  }, 'logcosh');
}

/** prediction - target * log(prediction): for counts (predictions positive rates). */
export function poisson(): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('poisson', yPred, yTrue);
    const per = E.sub(input(0), E.mul(input(1), E.log(E.add(input(0), 1e-7))));
    return sumExpr('poisson', E.div(per, yPred.size), [yPred, asFloat(yTrue)], undefined);
  }, 'poisson');
}

/** Kullback-Leibler divergence of the predicted distribution from the target's, over the last axis. */
export function kullbackLeiblerDivergence(): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('kullbackLeiblerDivergence', yPred, yTrue);
    const clip = (e: E.Expr) => E.binary('min', E.binary('max', e, 1e-7), 1);
    const t = clip(input(1)), p = clip(input(0));
    const rows = yPred.size / (yPred.shape[yPred.rank - 1] ?? 1);
    return sumExpr('kullbackLeiblerDivergence', E.div(E.mul(t, E.log(E.div(t, p))), rows), [yPred, asFloat(yTrue)], undefined);
  }, 'kullbackLeiblerDivergence');
}

/** Minus the cosine of the angle between prediction and target over the last axis (-1 when aligned). */
export function cosineSimilarity(): Loss {
  return describe<Loss>((yPred, yTrue) => {
    sameShapeOrFail('cosineSimilarity', yPred, yTrue);
    const t = asFloat(yTrue);
    const norm = (v: Tensor) => v.square().sum(-1).maximum(1e-12).sqrt();
    return yPred.mul(t).sum(-1).div(norm(yPred).mul(norm(t))).neg().mean();
  }, 'cosineSimilarity');
}

const BY_NAME: Record<string, () => Loss> = {
  sparseCategoricalCrossentropy: () => sparseCategoricalCrossentropy(),
  categoricalCrossentropy: () => categoricalCrossentropy(),
  binaryCrossentropy: () => binaryCrossentropy(),
  meanSquaredError, mse: meanSquaredError,
  meanAbsoluteError, mae: meanAbsoluteError,
  huber: () => huber(),
  hinge, logcosh, poisson,
  kullbackLeiblerDivergence, kld: kullbackLeiblerDivergence, kldivergence: kullbackLeiblerDivergence,
  cosineSimilarity,
};

export function resolveLoss(loss: Loss | string): Loss {
  if (typeof loss === 'function') return loss;
  const make = BY_NAME[loss];
  if (!make) fail('compile', `unknown loss '${loss}' (expected one of ${Object.keys(BY_NAME).join(', ')}, or a function)`);
  return make();
}

const FACTORIES: Record<string, (...args: never[]) => Loss> = {
  sparseCategoricalCrossentropy, categoricalCrossentropy, binaryCrossentropy, meanSquaredError, meanAbsoluteError, huber,
  hinge, logcosh, poisson, kullbackLeiblerDivergence, cosineSimilarity,
};

/** How a built-in loss was made, for saving; null for a custom function. */
export function lossDescription(loss: Loss): Description | null {
  return descriptionOf(loss) ?? null;
}

export function lossFromDescription(d: Description): Loss {
  return rebuild(d, FACTORIES, 'loss');
}
