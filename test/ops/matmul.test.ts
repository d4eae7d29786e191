// Matrix products: plain, transposed views, batched with broadcasting, 1-D operands, awkward sizes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { Rng, checkOp, testDevices } from '../helpers/check.js';
import { Arr, matmul, permute } from '../helpers/reference.js';

const CASES: [number[], number[]][] = [
  [[3, 4], [4, 5]],
  [[1, 7], [7, 1]],
  [[13, 17], [17, 11]],
  [[2, 3, 4], [2, 4, 5]],
  [[2, 3, 4], [4, 2]],
  [[3, 4], [2, 4, 5]],
  [[2, 1, 3, 4], [5, 4, 2]],
  [[0, 4], [4, 3]],
  [[3, 0], [0, 2]],
];

for (const device of testDevices()) {
  describe(`matmul on ${device}`, () => {
    const rng = new Rng(31);
    it('shapes with batch broadcasting and awkward sizes', async () => {
      for (const [sa, sb] of CASES) {
        await checkOp(device, { name: `matmul ${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, inputs: [rng.arr(sa), rng.arr(sb)], run: tsr.matmul, reference: matmul });
      }
    });
    it('transposed operands as views', async () => {
      await checkOp(device, { name: 'A^T @ B', inputs: [rng.arr([4, 3]), rng.arr([4, 5])], run: (a, b) => tsr.matmul(a.T, b), reference: (a, b) => matmul(permute(a, [1, 0]), b) });
      await checkOp(device, { name: 'A @ B^T', inputs: [rng.arr([3, 4]), rng.arr([5, 4])], run: (a, b) => tsr.matmul(a, b.T), reference: (a, b) => matmul(a, permute(b, [1, 0])) });
      await checkOp(device, { name: 'sliced operand', inputs: [rng.arr([6, 8]), rng.arr([4, 3])], run: (a, b) => tsr.matmul(a.slice([[null, null, 2], [2, 6]]), b), reference: (a, b) => matmul(Arr.of([3, 4], (i) => a.data[Math.floor(i / 4) * 2 * 8 + 2 + (i % 4)]!), b) });
    });
    it('1-D operands', async () => {
      await checkOp(device, { name: 'vec @ mat', inputs: [rng.arr([4]), rng.arr([4, 3])], run: tsr.matmul, reference: (a, b) => { const r = matmul(new Arr([1, 4], a.data), b); return new Arr([3], r.data); } });
      await checkOp(device, { name: 'mat @ vec', inputs: [rng.arr([3, 4]), rng.arr([4])], run: tsr.matmul, reference: (a, b) => { const r = matmul(a, new Arr([4, 1], b.data)); return new Arr([3], r.data); } });
      await checkOp(device, { name: 'dot', inputs: [rng.arr([5]), rng.arr([5])], run: tsr.matmul, reference: (a, b) => { const r = matmul(new Arr([1, 5], a.data), new Arr([5, 1], b.data)); return new Arr([], r.data); } });
    });
    it('a larger product agrees with the reference', async () => {
      await checkOp(device, { name: 'matmul 64x200x48', inputs: [rng.arr([64, 200]), rng.arr([200, 48])], run: tsr.matmul, reference: matmul, grad: [] });
    });
    it('rejects mismatched shapes and dtypes with both named', () => {
      const a = tsr.zeros([2, 3], { device }), b = tsr.zeros([4, 5], { device });
      assert.throws(() => tsr.matmul(a, b), /matmul: inner dimensions differ: \[2, 3\] @ \[4, 5\]/);
      assert.throws(() => tsr.matmul(a, tsr.zeros([3, 2], { device, dtype: 'int32' })), /matmul: expected two float32, float16 or bfloat16 operands of one dtype, got float32 \[2, 3\] and int32 \[3, 2\]/);
    });
  });
}
