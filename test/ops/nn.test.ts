// Softmax family, cross-entropy, normalisation, dropout and one-hot.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { Rng, checkOp, raisesIndexError, testDevices, toTensor } from '../helpers/check.js';
import { Arr, map, reduce, sumOf, unravel } from '../helpers/reference.js';

function softmaxRef(a: Arr, axis: number): Arr {
  const m = reduce(a, [axis], true, (v) => Math.max(...v));
  const e = map((x, mm) => Math.exp(x - mm), a, m);
  return map((x, s) => x / s, e, reduce(e, [axis], true, sumOf));
}
function logSoftmaxRef(a: Arr, axis: number): Arr {
  const lse = reduce(a, [axis], true, (v) => { const m = Math.max(...v); return m + Math.log(sumOf(v.map((x) => Math.exp(x - m)))); });
  return map((x, l) => x - l, a, lse);
}

for (const device of testDevices()) {
  describe(`nn ops on ${device}`, () => {
    const rng = new Rng(51);
    it('softmax and logSoftmax along any axis', async () => {
      for (const [shape, axis] of [[[3, 5], -1], [[2, 3, 4], 1], [[4], 0], [[2, 1], 1]] as const) {
        await checkOp(device, { name: `softmax ${shape} ${axis}`, inputs: [rng.arr([...shape], -3, 3)], run: (x) => tsr.softmax(x, axis), reference: (a) => softmaxRef(a, axis < 0 ? shape.length + axis : axis) });
        await checkOp(device, { name: `logSoftmax ${shape} ${axis}`, inputs: [rng.arr([...shape], -3, 3)], run: (x) => tsr.logSoftmax(x, axis), reference: (a) => logSoftmaxRef(a, axis < 0 ? shape.length + axis : axis) });
      }
    });
    it('softmax is stable for large logits', async () => {
      const y = tsr.softmax(tsr.tensor([[1000, 1001], [-1000, -1000]], { device }));
      const v = await y.data();
      assert.ok([...v].every(Number.isFinite));
      assert.ok(Math.abs(v[1]! - 0.7310586) < 1e-6 && Math.abs(v[2]! - 0.5) < 1e-6);
    });
    it('crossEntropy with integer labels', async () => {
      const labels = [2, 0, 4, 1];
      const lab = new Arr([4], Float64Array.from(labels));
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        await checkOp(device, {
          name: `crossEntropy int ${reduction}`, inputs: [rng.arr([4, 5], -2, 2), lab], dtypes: ['float32', 'int32'],
          run: (x, y) => tsr.crossEntropy(x, y, reduction),
          reference: (x) => {
            const ls = logSoftmaxRef(x, 1);
            const per = Arr.of([4], (i) => -ls.data[i * 5 + labels[i]!]!);
            return reduction === 'none' ? per : new Arr([], Float64Array.of(reduction === 'sum' ? sumOf([...per.data]) : sumOf([...per.data]) / 4));
          },
        });
      }
    });
    it('crossEntropy with probability labels', async () => {
      const p = softmaxRef(rng.arr([3, 4], -1, 1), 1);
      await checkOp(device, {
        name: 'crossEntropy probabilities', inputs: [rng.arr([3, 4], -2, 2), new Arr(p.shape, p.data.map(Math.fround))],
        run: (x, y) => tsr.crossEntropy(x, y),
        reference: (x, y) => { const ls = logSoftmaxRef(x, 1); return new Arr([], Float64Array.of(-sumOf([...ls.data].map((v, i) => v * y.data[i]!)) / 3)); },
      });
    });
    it('crossEntropy rejects out-of-range labels (at once, or at the next read on a GPU) and wrong shapes', async () => {
      const x = tsr.zeros([2, 3], { device });
      await raisesIndexError(() => tsr.crossEntropy(x, tsr.tensor(new Int32Array([0, 3]), { device })), /crossEntropy: label 3 at position 1 is out of range for 3 classes/);
      await raisesIndexError(() => tsr.crossEntropy(x, tsr.tensor(new Int32Array([-1, 1]), { device })), /crossEntropy: label -1 at position 0 is out of range for 3 classes/);
      // the failure is reported once: the next read succeeds
      assert.equal((await tsr.crossEntropy(x, tsr.tensor(new Int32Array([0, 2]), { device })).data()).length, 1);
      assert.throws(() => tsr.crossEntropy(x, tsr.tensor(new Int32Array([0, 1, 2]), { device })), /crossEntropy: integer labels must be \[2\]/);
    });
    it('layerNorm with scale and shift', async () => {
      await checkOp(device, {
        name: 'layerNorm', inputs: [rng.arr([3, 6], -2, 2), rng.arr([6]), rng.arr([6])],
        run: (x, g, b) => tsr.layerNorm(x, g, b, { eps: 1e-5 }),
        reference: (x, g, b) => {
          const mu = reduce(x, [1], true, (v) => sumOf(v) / v.length);
          const va = reduce(map((p, q) => (p - q) ** 2, x, mu), [1], true, (v) => sumOf(v) / v.length);
          return map((p, m, v, gg, bb) => ((p - m) / Math.sqrt(v + 1e-5)) * gg + bb, x, mu, va, g, b);
        },
        gradTol: { atol: 1e-3, rtol: 5e-3 },
      });
    });
    it('batchNorm with batch statistics (NHWC, per channel)', async () => {
      await checkOp(device, {
        name: 'batchNorm', inputs: [rng.arr([4, 2, 2, 3], -2, 2), rng.arr([3]), rng.arr([3])],
        run: (x, g, b) => { const { mean, variance } = tsr.moments(x, [0, 1, 2]); return tsr.batchNorm(x, mean, variance, g, b, 1e-3); },
        reference: (x, g, b) => {
          const mu = reduce(x, [0, 1, 2], true, (v) => sumOf(v) / v.length);
          const va = reduce(map((p, q) => (p - q) ** 2, x, mu), [0, 1, 2], true, (v) => sumOf(v) / v.length);
          return map((p, m, v, gg, bb) => ((p - m) / Math.sqrt(v + 1e-3)) * gg + bb, x, mu, va, g, b);
        },
        gradTol: { atol: 1e-3, rtol: 5e-3 },
      });
    });
    it('dropout is seeded, scales survivors and passes gradients through them', async () => {
      const x = tsr.ones([1000], { device, requiresGrad: true });
      const y = tsr.dropout(x, 0.3, { seed: 9 });
      const y2 = tsr.dropout(x, 0.3, { seed: 9 });
      const v = await y.data();
      assert.deepEqual(v, await y2.data());
      const kept = [...v].filter((e) => e !== 0);
      assert.ok(kept.every((e) => Math.abs(e - 1 / 0.7) < 1e-6));
      assert.ok(Math.abs(kept.length / 1000 - 0.7) < 0.06, `kept ${kept.length}`);
      y.sum().backward();
      assert.deepEqual([...(await x.grad!.data())].map((e) => e !== 0), [...v].map((e) => e !== 0));
      assert.equal(tsr.dropout(x, 0), x);
    });
    it('oneHot', async () => {
      const idx = toTensor(new Arr([2, 2], Float64Array.of(0, 2, 1, 1)), device, 'int32');
      const oh = tsr.oneHot(idx, 3);
      assert.deepEqual(oh.shape, [2, 2, 3]);
      const ref = Arr.of([2, 2, 3], (i) => { const [a, b, c] = unravel(i, [2, 2, 3]); return Number([0, 2, 1, 1][a! * 2 + b!] === c); });
      assert.deepEqual([...(await oh.data())], [...ref.data]);
      // an index outside [0, depth) is an error, as PyTorch's one_hot (TensorFlow's zero row hides corrupt labels)
      await raisesIndexError(() => tsr.oneHot(toTensor(new Arr([2], Float64Array.of(0, 5)), device, 'int32'), 3), /oneHot: index 5 at position 1 is out of range for depth 3/);
    });
  });
}
