// NaN semantics as PyTorch's on every device: relu, maximum/minimum, clip, max pooling and
// max/min reductions let a NaN through instead of turning it into a number.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { testDevices } from '../helpers/check.js';

const same = (actual: Float32Array | Int32Array | Uint8Array, expected: number[], what: string) =>
  assert.deepEqual([...actual].map((v) => (Number.isNaN(v) ? 'NaN' : v)), expected.map((v) => (Number.isNaN(v) ? 'NaN' : v)), what);

for (const device of testDevices()) {
  describe(`NaN propagation on ${device}`, () => {
    const values = [NaN, 1, -2, 0, -Infinity, Infinity, -0.5, NaN];
    it('activations, maximum, minimum and clip keep NaN', async () => {
      const x = tsr.tensor(values, { device });
      same(await tsr.relu(x).data(), [NaN, 1, 0, 0, 0, Infinity, 0, NaN], 'relu');
      same(await tsr.leakyRelu(x, 0.5).data(), [NaN, 1, -1, 0, -Infinity, Infinity, -0.25, NaN], 'leakyRelu');
      const elu = [...await tsr.elu(x).data()];
      same(Float32Array.from([0, 1, 3, 4, 5, 7].map((i) => elu[i]!)), [NaN, 1, 0, -1, Infinity, NaN], 'elu');
      assert.ok(Math.abs(elu[2]! - Math.expm1(-2)) < 1e-6, `elu(-2) = ${elu[2]}`);
      const zero = tsr.zeros([8], { device });
      same(await tsr.maximum(x, zero).data(), [NaN, 1, 0, 0, 0, Infinity, 0, NaN], 'maximum(x, 0)');
      same(await tsr.maximum(zero, x).data(), [NaN, 1, 0, 0, 0, Infinity, 0, NaN], 'maximum(0, x)');
      same(await tsr.minimum(x, zero).data(), [NaN, 0, -2, 0, -Infinity, 0, -0.5, NaN], 'minimum(x, 0)');
      same(await tsr.clip(x, -1, 1).data(), [NaN, 1, -1, 0, -1, 1, -0.5, NaN], 'clip');
    });
    it('the relu gradient passes a NaN through and is 0 at x = 0, as PyTorch', async () => {
      const x = tsr.tensor([NaN, 0, 2, -1], { device }).requireGrad();
      tsr.relu(x).sum().backward();
      same(await x.grad!.data(), [1, 0, 1, 0], 'd relu');
    });
    it('max and min reductions and max pooling keep NaN', async () => {
      const x = tsr.tensor([[1, NaN, 3], [4, 5, 6]], { device });
      same(await tsr.max(x, 1).data(), [NaN, 6], 'max over rows');
      same(await tsr.min(x, 0).data(), [1, NaN, 3], 'min over columns');
      same(await tsr.max(x).data(), [NaN], 'max of all');
      // NHWC [1, 2, 2, 4]: channel 1 has a NaN in its window
      const img = tsr.tensor(Float32Array.from({ length: 16 }, (_, i) => (i === 5 ? NaN : i)), { shape: [1, 2, 2, 4], device });
      same(await tsr.maxPool2d(img, { poolSize: 2 }).data(), [12, NaN, 14, 15], 'maxPool2d');
    });
  });
}
