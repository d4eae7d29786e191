// Metrics (Keras's names), accumulated over an epoch as counts so batches of any size weigh right.
import { fail } from '../core/errors.js';
import * as E from '../core/expr.js';
import { input } from '../core/expr.js';
import { argmax, sumExpr } from '../ops/reduce.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { arange } from '../ops/creation.js';

/** A count on the device (read after the step, so GPUs are not stalled) or a known number. */
export type Count = Tensor | number;

/** A metric adds (numerator, denominator) per batch; its value is the ratio. */
export interface Metric {
  readonly name: string;
  batch(yPred: Tensor, yTrue: Tensor): [Count, Count];
}

/** Reads a count (freeing its tensor). */
export async function readCount(c: Count): Promise<number> {
  if (typeof c === 'number') return c;
  try {
    return (await c.data())[0]!;
  } finally {
    c.dispose();
  }
}

function labelsOf(yTrue: Tensor): Tensor {
  return yTrue.rank === 2 && yTrue.shape[1] === 1 ? yTrue.reshape([-1]) : yTrue;
}

function countTrue(op: string, cond: E.Expr, inputs: Tensor[]): Tensor {
  return sumExpr(op, E.cast(cond, 'float32'), inputs, undefined);
}

/** Picks sparse, categorical or binary accuracy from the shapes, as Keras's 'accuracy' does. */
export const accuracy: Metric = {
  name: 'accuracy',
  batch(yPred, yTrue) {
    return noGrad(() => {
      const n = yPred.shape[0]!;
      if (yPred.rank === 2 && yPred.shape[1]! > 1) {
        const pred = argmax(yPred, 1);
        const truth = yTrue.rank === 2 && yTrue.shape[1]! > 1 ? argmax(yTrue, 1) : labelsOf(yTrue);
        return [countTrue('accuracy', E.binary('eq', input(0, 'int32'), E.cast(input(1, truth.dtype), 'int32')), [pred, truth]), n];
      }
      // binary: threshold 0.5 on probabilities
      return [countTrue('accuracy', E.binary('eq', E.binary('gt', input(0), 0.5), E.binary('gt', E.cast(input(1, yTrue.dtype), 'float32'), 0.5)), [yPred, yTrue]), yPred.size];
    });
  },
};

/** Whether the true class is among the k highest scores. */
export function topKAccuracy(k = 5): Metric {
  return {
    name: `top${k}Accuracy`,
    batch(yPred, yTrue) {
      return noGrad(() => {
        const labels = labelsOf(yTrue);
        const [n, c] = yPred.shape as [number, number];
        const classes = arange(0, c, 1, { device: yPred.device });
        // score of the true class, then how many classes beat it
        const trueScore = sumExpr('topK', E.where(E.binary('eq', input(1, 'int32'), input(2, 'int32')), input(0), 0), [yPred, labels.reshape([n, 1]), classes.reshape([1, c])], 1, true);
        const beaten = sumExpr('topK', E.cast(E.binary('gt', input(0), input(1)), 'float32'), [yPred, trueScore], 1);
        return [countTrue('topK', E.binary('lt', input(0), k), [beaten]), n];
      });
    },
  };
}

function binaryCounts(name: string, which: 'precision' | 'recall'): Metric {
  return {
    name,
    batch(yPred, yTrue) {
      return noGrad(() => {
        const p = E.binary('gt', input(0), 0.5), t = E.binary('gt', E.cast(input(1, yTrue.dtype), 'float32'), 0.5);
        const tp = countTrue(name, E.binary('and', p, t), [yPred, yTrue]);
        const denom = countTrue(name, which === 'precision' ? p : t, [yPred, yTrue]);
        return [tp, denom];
      });
    },
  };
}

/** Binary precision at threshold 0.5: true positives / predicted positives. */
export const precision = binaryCounts('precision', 'precision');
/** Binary recall at threshold 0.5: true positives / actual positives. */
export const recall = binaryCounts('recall', 'recall');

/** Mean squared or absolute error over every element, as a metric. */
function meanError(name: string, squared: boolean): Metric {
  return {
    name,
    batch(yPred, yTrue) {
      return noGrad(() => {
        const d = E.sub(input(0), E.cast(input(1, yTrue.dtype), 'float32'));
        return [sumExpr(name, squared ? E.mul(d, d) : E.unary('abs', d), [yPred, yTrue], undefined), yPred.size];
      });
    },
  };
}

export function resolveMetric(m: Metric | string): Metric {
  if (typeof m !== 'string') return m;
  switch (m) {
    case 'accuracy': case 'acc': case 'sparseCategoricalAccuracy': case 'categoricalAccuracy': case 'binaryAccuracy': return { ...accuracy, name: m === 'acc' ? 'accuracy' : m };
    case 'topKAccuracy': case 'top5Accuracy': return topKAccuracy(5);
    case 'mse': case 'meanSquaredError': return meanError(m, true);
    case 'mae': case 'meanAbsoluteError': return meanError(m, false);
    case 'precision': return precision;
    case 'recall': return recall;
    default: {
      const topK = /^top(\d+)Accuracy$/.exec(m);
      if (topK) return topKAccuracy(Number(topK[1]));
      return fail('compile', `unknown metric '${m}' (expected accuracy, topKAccuracy, precision, recall, mse, mae, or a Metric object)`);
    }
  }
}
