// Weight penalties added to the training loss (Keras's kernelRegularizer): l1 |w|, l2 w², or
// both. Plain objects, so a layer's config saves them as they are.
import { fail } from '../core/errors.js';
import * as E from '../core/expr.js';
import { checkNumber, checkOptions, shown } from '../core/validate.js';
import { sumExpr } from '../ops/reduce.js';
import type { Tensor } from '../tensor/tensor.js';

export interface Regularizer {
  l1?: number;
  l2?: number;
}

/** The regularizer option of a layer, checked (undefined when absent). */
export function checkRegularizer(op: string, name: string, r: unknown): Regularizer | undefined {
  if (r === undefined) return undefined;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) fail(op, `${name} must be { l1?, l2? } (or tsr.regularizers.l2()), got ${shown(r)}`);
  const o = checkOptions(op, r as Regularizer, ['l1', 'l2']);
  const l1 = o.l1 === undefined ? undefined : checkNumber(op, `${name}.l1`, o.l1, { min: 0 });
  const l2 = o.l2 === undefined ? undefined : checkNumber(op, `${name}.l2`, o.l2, { min: 0 });
  if (l1 === undefined && l2 === undefined) fail(op, `${name} needs l1, l2 or both`);
  return { ...(l1 !== undefined ? { l1 } : {}), ...(l2 !== undefined ? { l2 } : {}) };
}

/** sum(l1 |w| + l2 w²): one fused reduction. */
export function penalty(op: string, w: Tensor, r: Regularizer): Tensor {
  const x = E.input(0);
  const terms = [r.l1 ? E.mul(r.l1, E.unary('abs', x)) : null, r.l2 ? E.mul(r.l2, E.mul(x, x)) : null].filter((t): t is E.Expr => t !== null);
  return sumExpr(`${op}.regularizer`, terms.length === 2 ? E.add(terms[0]!, terms[1]!) : terms[0] ?? E.mul(x, 0), [w], undefined);
}

/** TF.js's factories: tsr.regularizers.l2({ l2: 1e-4 }). */
export const regularizers = {
  l1: (args: { l1?: number } = {}): Regularizer => ({ l1: args.l1 ?? 0.01 }),
  l2: (args: { l2?: number } = {}): Regularizer => ({ l2: args.l2 ?? 0.01 }),
  l1l2: (args: { l1?: number; l2?: number } = {}): Regularizer => ({ l1: args.l1 ?? 0.01, l2: args.l2 ?? 0.01 }),
};
