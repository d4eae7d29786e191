// Which weights hold NaN or Infinity. fit checks gradients at no per-step cost: a non-finite
// gradient makes the weights it updates non-finite (every optimizer's update propagates it),
// which makes the next batch's loss non-finite; only then, and at each epoch's end, are the
// weights read to tell a bad gradient from a bad batch.
import type { Tensor } from '../tensor/tensor.js';

/** Names of the tensors holding a NaN or an infinity. */
export async function nonFiniteNames(named: readonly [string, Tensor][]): Promise<string[]> {
  const bad: string[] = [];
  for (const [name, t] of named) {
    if (t.dtype !== 'float32') continue;
    const values = await t.data();
    if (!values.every(Number.isFinite)) bad.push(name);
  }
  return bad;
}
