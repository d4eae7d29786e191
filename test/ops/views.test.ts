// View ops share storage where possible; values and gradients match index-based references.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { Rng, checkOp, testDevices } from '../helpers/check.js';
import { Arr, permute, ravel, unravel } from '../helpers/reference.js';

const reshapeRef = (shape: number[]) => (a: Arr) => new Arr(shape, a.data.slice());

for (const device of testDevices()) {
  describe(`views on ${device}`, () => {
    const rng = new Rng(21);
    it('reshape, view, flatten, squeeze, unsqueeze', async () => {
      const x = rng.arr([2, 3, 4]);
      await checkOp(device, { name: 'reshape', inputs: [x], run: (t) => t.reshape([4, -1]), reference: reshapeRef([4, 6]) });
      await checkOp(device, { name: 'view', inputs: [x], run: (t) => t.view([6, 4]), reference: reshapeRef([6, 4]) });
      await checkOp(device, { name: 'flatten', inputs: [x], run: (t) => t.flatten(1), reference: reshapeRef([2, 12]) });
      await checkOp(device, { name: 'unsqueeze', inputs: [x], run: (t) => t.unsqueeze(-1), reference: reshapeRef([2, 3, 4, 1]) });
      const y = rng.arr([1, 3, 1]);
      await checkOp(device, { name: 'squeeze', inputs: [y], run: (t) => t.squeeze(), reference: reshapeRef([3]) });
      await checkOp(device, { name: 'squeeze axis', inputs: [y], run: (t) => t.squeeze(0), reference: reshapeRef([3, 1]) });
    });
    it('reshape of a transposed tensor copies; view refuses', async () => {
      const x = rng.arr([3, 4]);
      await checkOp(device, { name: 'reshape of T', inputs: [x], run: (t) => t.T.reshape([12]), reference: (a) => reshapeRef([12])(permute(a, [1, 0])) });
      const t = tsr.zeros([3, 4], { device });
      assert.throws(() => t.T.view([12]), /view: .*without a copy/);
    });
    it('views share storage', async () => {
      const t = tsr.arange(12, undefined, 1, { device, dtype: 'float32' });
      const before = tsr.memory().numBytes;
      const v = t.reshape([3, 4]).T.slice([[1, 3]]);
      assert.equal(tsr.memory().numBytes, before);
      assert.deepEqual(await v.array(), [[1, 5, 9], [2, 6, 10]]);
    });
    it('permute and transpose', async () => {
      const x = rng.arr([2, 3, 4]);
      await checkOp(device, { name: 'permute', inputs: [x], run: (t) => t.permute([2, 0, 1]), reference: (a) => permute(a, [2, 0, 1]) });
      await checkOp(device, { name: 'T', inputs: [x], run: (t) => t.T, reference: (a) => permute(a, [2, 1, 0]) });
      await checkOp(device, { name: 'transpose then exp', inputs: [x], run: (t) => tsr.exp(t.transpose([1, 0, 2])), reference: (a) => { const p = permute(a, [1, 0, 2]); return new Arr(p.shape, p.data.map(Math.exp)); } });
    });
    it('expand sums its gradient', async () => {
      const x = rng.arr([3, 1]);
      await checkOp(device, { name: 'expand', inputs: [x], run: (t) => t.expand([2, 3, 4]), reference: (a) => Arr.of([2, 3, 4], (i) => a.data[unravel(i, [2, 3, 4])[1]!]!) });
    });
    it('slice with negative indices, steps and index axes', async () => {
      const x = rng.arr([5, 6]);
      const cases: [tsr.SliceRange[], (r: number, c: number) => boolean, number[]][] = [];
      const run = (ranges: tsr.SliceRange[]) => (t: tsr.Tensor) => t.slice(ranges);
      await checkOp(device, { name: 'slice [1:-1, ::2]', inputs: [x], run: run([[1, -1], [null, null, 2]]), reference: (a) => Arr.of([3, 3], (i) => { const [r, c] = unravel(i, [3, 3]); return a.data[ravel([r! + 1, c! * 2], [5, 6])]!; }) });
      await checkOp(device, { name: 'slice [::-1, -2]', inputs: [x], run: run([[null, null, -1], -2]), reference: (a) => Arr.of([5], (i) => a.data[ravel([4 - i, 4], [5, 6])]!) });
      await checkOp(device, { name: 'slice [4:1:-2]', inputs: [x], run: run([[4, 1, -2]]), reference: (a) => Arr.of([2, 6], (i) => { const [r, c] = unravel(i, [2, 6]); return a.data[ravel([4 - 2 * r!, c!], [5, 6])]!; }) });
      await checkOp(device, { name: 'empty slice', inputs: [x], run: run([[3, 3]]), reference: () => new Arr([0, 6], new Float64Array(0)) });
      assert.equal(cases.length, 0);
      assert.throws(() => tsr.zeros([2, 3], { device }).slice([5]), /slice: index 5 is out of range for axis 0 of size 2/);
    });
    it('contiguous copies only when needed', async () => {
      const t = tsr.zeros([2, 3], { device });
      assert.equal(t.contiguous(), t);
      const c = t.T.contiguous();
      assert.notEqual(c, t);
      assert.deepEqual(c.shape, [3, 2]);
    });
  });
}
