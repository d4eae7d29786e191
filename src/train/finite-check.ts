// Which weights hold NaN or Infinity. fit checks gradients at no per-step cost: a non-finite
// gradient makes the weights it updates non-finite (every optimizer's update propagates it),
// which makes the next batch's loss non-finite; only then, and at each epoch's end, are the
// weights checked, to tell a bad gradient from a bad batch.
import * as E from '../core/expr.js';
import { applyExpr } from '../ops/apply.js';
import { sum } from '../ops/reduce.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Names of the tensors holding a NaN or an infinity. One scalar read answers the common case:
 * sum(t) * 0 is 0 for every finite tensor; only when it is not is each tensor read.
 */
export async function nonFiniteNames(named: readonly [string, Tensor][]): Promise<string[]> {
  const floats = named.filter(([, t]) => t.dtype === 'float32' && t.size > 0);
  if (!floats.length) return [];
  const op = 'fit (finite check)';
  const probe = noGrad(() => tidy(() => {
    let acc = applyExpr(op, E.mul(E.input(0), 0), [sum(floats[0]![1])]);
    // two inputs per kernel: a device binds only so many buffers at once
    for (const [, t] of floats.slice(1)) acc = applyExpr(op, E.add(E.input(0), E.mul(E.input(1), 0)), [acc, sum(t)]);
    return acc;
  }));
  const total = (await probe.data())[0]!;
  probe.dispose();
  // a float32 sum on a GPU can overflow for finite values: the exact answer comes from the values
  if (total === 0) return [];
  const bad: string[] = [];
  for (const [name, t] of floats) {
    if (!(await t.data()).every(Number.isFinite)) bad.push(name);
  }
  return bad;
}
