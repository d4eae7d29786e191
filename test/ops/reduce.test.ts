// Reductions over any axes, with keepDims, against float64 references.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { Rng, checkOp, scalar, testDevices, toTensor } from '../helpers/check.js';
import { type Arr, map, reduce, sumOf } from '../helpers/reference.js';

const CASES: [number[], number[] | undefined][] = [
  [[5], undefined],
  [[3, 4], [1]],
  [[3, 4], [0]],
  [[2, 3, 4], [0, 2]],
  [[2, 3, 4], [-1]],
  [[1, 3, 1], [0, 2]],
  [[2, 0, 3], [2]],
  [[4, 6], undefined],
];

const mean = (v: number[]) => sumOf(v) / v.length;
const variance = (v: number[]) => { const m = mean(v); return sumOf(v.map((x) => (x - m) ** 2)) / v.length; };
const lse = (v: number[]) => { const m = Math.max(...v); return m + Math.log(sumOf(v.map((x) => Math.exp(x - m)))); };

const ops: [string, (x: tsr.Tensor, axes: number[] | undefined, keep: boolean) => tsr.Tensor, (v: number[]) => number, boolean][] = [
  ['sum', (x, a, k) => tsr.sum(x, a, k), sumOf, true],
  ['mean', (x, a, k) => tsr.mean(x, a, k), mean, false],
  ['max', (x, a, k) => tsr.max(x, a, k), (v) => Math.max(...v), false],
  ['min', (x, a, k) => tsr.min(x, a, k), (v) => Math.min(...v), false],
  ['prod', (x, a, k) => tsr.prod(x, a, k), (v) => v.reduce((p, q) => p * q, 1), true],
  ['variance', (x, a, k) => tsr.variance(x, a, { keepDims: k }), variance, false],
  ['std', (x, a, k) => tsr.std(x, a, { keepDims: k }), (v) => Math.sqrt(variance(v)), false],
  ['logsumexp', (x, a, k) => tsr.logsumexp(x, a, k), lse, false],
];

for (const device of testDevices()) {
  describe(`reductions on ${device}`, () => {
    for (const [name, run, ref, allowsEmpty] of ops) {
      it(name, async () => {
        const rng = new Rng(11);
        for (const [shape, axes] of CASES) {
          if (shape.includes(0) && !allowsEmpty) continue;
          // std over single elements has an infinite-slope gradient (NaN, as in PyTorch)
          if (name === 'std' && shape[0] === 1) continue;
          for (const keep of [false, true]) {
            const x = rng.arr(shape, 0.5, 2);
            await checkOp(device, {
              name: `${name} ${JSON.stringify(shape)} axes=${JSON.stringify(axes)} keepDims=${keep}`,
              inputs: [x], run: (t) => run(t, axes, keep), reference: (a: Arr) => reduce(a, axes, keep, ref),
            });
          }
        }
      });
    }
    it('unbiased variance with correction 1', async () => {
      const x = new Rng(12).arr([4, 5]);
      await checkOp(device, {
        name: 'variance correction=1', inputs: [x], run: (t) => tsr.variance(t, 1, { correction: 1 }),
        reference: (a) => reduce(a, [1], false, (v) => variance(v) * v.length / (v.length - 1)),
      });
    });
    it('argmax and argmin pick the first extreme', async () => {
      const x = tsr.tensor([[1, 5, 5, 2], [7, 0, 7, -1]], { device });
      assert.deepEqual(await tsr.argmax(x, 1).array(), [1, 0]);
      assert.deepEqual(await tsr.argmin(x, 1).array(), [0, 3]);
      assert.deepEqual(await tsr.argmax(x, 0, true).array(), [[1, 0, 1, 0]]);
      assert.equal(await scalar(tsr.argmax(x)), 4);
      assert.equal(tsr.argmax(x).dtype, 'int32');
    });
    it('max gradient is shared between ties', async () => {
      const x = tsr.tensor([3, 1, 3], { device, requiresGrad: true });
      tsr.max(x).backward();
      assert.deepEqual(await x.grad!.array(), [0.5, 0, 0.5]);
    });
    it('sum of int32 and bool gives int32', async () => {
      const x = toTensor(map((v) => Math.round(v * 3), new Rng(13).arr([3, 4])), device, 'int32');
      assert.equal(tsr.sum(x).dtype, 'int32');
      assert.equal(tsr.sum(tsr.greater(x, 0), 1).dtype, 'int32');
    });
    it('large reductions (split into partial passes on GPUs) match the reference', async () => {
      const x = new Rng(14).arr([256, 200, 3]);
      for (const [name, run, ref] of ops.slice(0, 4)) {
        // float32 error grows with the magnitude summed (51200 terms up to 1), not with the cancelled result
        await checkOp(device, { name: `${name} over 51200 elements per output`, inputs: [x], grad: [], forwardTol: { atol: 2e-3, rtol: 1e-4 }, run: (t) => run(t, [0, 1], false), reference: (a: Arr) => reduce(a, [0, 1], false, ref) });
      }
    });
    it('long sums keep float32 accuracy', async () => {
      const x = tsr.full([1_000_000], 0.1, { device });
      const s = await scalar(tsr.sum(x));
      assert.ok(Math.abs(s - 100000) < 1, `sum was ${s}`);
    });
  });
}
