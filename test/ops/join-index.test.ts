// concat, stack, split, pad, gather/indexSelect.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { Rng, checkOp, raisesIndexError, testDevices } from '../helpers/check.js';
import { Arr, ravel, unravel } from '../helpers/reference.js';

for (const device of testDevices()) {
  describe(`join and index ops on ${device}`, () => {
    const rng = new Rng(61);
    it('concat along each axis, including empty parts', async () => {
      await checkOp(device, {
        name: 'concat axis 1', inputs: [rng.arr([2, 3]), rng.arr([2, 1]), rng.arr([2, 0])],
        run: (a, b, c) => tsr.concat([a, b, c], 1),
        reference: (a, b) => Arr.of([2, 4], (i) => { const [r, col] = unravel(i, [2, 4]); return col! < 3 ? a.data[r! * 3 + col!]! : b.data[r!]!; }),
      });
      await checkOp(device, {
        name: 'concat axis 0', inputs: [rng.arr([1, 3]), rng.arr([2, 3])], run: (a, b) => tsr.concat([a, b]),
        reference: (a, b) => new Arr([3, 3], Float64Array.from([...a.data, ...b.data])),
      });
    });
    it('stack', async () => {
      await checkOp(device, {
        name: 'stack axis 1', inputs: [rng.arr([2, 3]), rng.arr([2, 3])], run: (a, b) => tsr.stack([a, b], 1),
        reference: (a, b) => Arr.of([2, 2, 3], (i) => { const [r, k, c] = unravel(i, [2, 2, 3]); return (k === 0 ? a : b).data[r! * 3 + c!]!; }),
      });
    });
    it('split into equal parts and given sizes', async () => {
      const x = rng.arr([4, 6]);
      await checkOp(device, { name: 'split sizes', inputs: [x], run: (t) => tsr.split(t, [1, 5], 1)[1]!, reference: (a) => Arr.of([4, 5], (i) => { const [r, c] = unravel(i, [4, 5]); return a.data[r! * 6 + c! + 1]!; }) });
      await checkOp(device, { name: 'split sections', inputs: [x], run: (t) => tsr.split(t, 2, 0)[1]!, reference: (a) => new Arr([2, 6], a.data.slice(12)) });
      assert.throws(() => tsr.split(tsr.zeros([4], { device }), 3), /split: axis 0 of size 4 cannot be split into 3 equal parts/);
    });
    it('pad with a constant', async () => {
      await checkOp(device, {
        name: 'pad', inputs: [rng.arr([2, 3])], run: (t) => tsr.pad(t, [[1, 0], [2, 1]], 0.5),
        reference: (a) => Arr.of([3, 6], (i) => { const [r, c] = unravel(i, [3, 6]); return r! >= 1 && c! >= 2 && c! < 5 ? a.data[(r! - 1) * 3 + c! - 2]! : 0.5; }),
      });
    });
    it('gather and indexSelect, with repeated indices', async () => {
      const idx = [2, 0, 2];
      await checkOp(device, {
        name: 'gather axis 1', inputs: [rng.arr([2, 4, 3]), new Arr([3], Float64Array.from(idx))], dtypes: ['float32', 'int32'],
        run: (x, i) => tsr.gather(x, i, 1),
        reference: (x) => Arr.of([2, 3, 3], (i) => { const [a, j, b] = unravel(i, [2, 3, 3]); return x.data[ravel([a!, idx[j!]!, b!], [2, 4, 3])]!; }),
      });
      await checkOp(device, {
        name: 'gather 2-D indices', inputs: [rng.arr([5, 2]), new Arr([2, 2], Float64Array.of(4, 1, 1, 0))], dtypes: ['float32', 'int32'],
        run: (x, i) => tsr.gather(x, i, 0),
        reference: (x) => Arr.of([2, 2, 2], (i) => { const [p, q, c] = unravel(i, [2, 2, 2]); return x.data[[4, 1, 1, 0][p! * 2 + q!]! * 2 + c!]!; }),
      });
      await checkOp(device, {
        name: 'indexSelect', inputs: [rng.arr([3, 4]), new Arr([2], Float64Array.of(3, 1))], dtypes: ['float32', 'int32'],
        run: (x, i) => tsr.indexSelect(x, 1, i),
        reference: (x) => Arr.of([3, 2], (i) => { const [r, c] = unravel(i, [3, 2]); return x.data[r! * 4 + [3, 1][c!]!]!; }),
      });
      // the CPU raises at once; a GPU flags it on the device and raises at the next read
      await raisesIndexError(() => tsr.gather(tsr.zeros([3], { device }), tsr.tensor(new Int32Array([0, 3]), { device })), /gather: index 3 at position 1 is out of range for axis 0 of size 3/);
      await raisesIndexError(() => tsr.gather(tsr.zeros([2, 4], { device }), tsr.tensor(new Int32Array([1, -2]), { device }), 1), /gather: index -2 at position 1 is out of range for axis 1 of size 4/);
      await raisesIndexError(() => tsr.oneHot(tsr.tensor(new Int32Array([0, 1, 5]), { device }), 3), /oneHot: index 5 at position 2 is out of range for depth 3/);
      // only the first failing check since the last read is reported, then the flag is clear
      assert.deepEqual([...await tsr.gather(tsr.arange(3, undefined, 1, { device, dtype: 'float32' }), tsr.tensor(new Int32Array([2, 0]), { device })).data()], [2, 0]);
      assert.throws(() => tsr.gather(tsr.zeros([3], { device }), tsr.zeros([1], { device })), /gather: indices must be int32, got float32/);
    });
  });
}
