// Autograd behaviour: accumulation, broadcasting, detach, noGrad, functional grad, errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { scalar, testDevices } from '../helpers/check.js';

for (const device of testDevices()) {
  describe(`autograd on ${device}`, () => {
    it('accumulates across backward calls until zeroGrad', async () => {
      const x = tsr.tensor([1, 2, 3], { device, requiresGrad: true });
      x.square().sum().backward();
      x.square().sum().backward();
      assert.deepEqual(await x.grad!.array(), [4, 8, 12]);
      x.zeroGrad();
      assert.equal(x.grad, null);
    });
    it('reduces gradients over broadcast dimensions', async () => {
      const a = tsr.ones([2, 3], { device, requiresGrad: true });
      const b = tsr.ones([3], { device, requiresGrad: true });
      const c = tsr.ones([2, 1], { device, requiresGrad: true });
      tsr.mul(tsr.add(a, b), c).sum().backward();
      assert.deepEqual(b.grad!.shape, [3]);
      assert.deepEqual(await b.grad!.array(), [2, 2, 2]);
      assert.deepEqual(await c.grad!.array(), [[6], [6]]);
    });
    it('a tensor used twice gets both contributions', async () => {
      const x = tsr.tensor([3], { device, requiresGrad: true });
      tsr.mul(x, x).add(x).sum().backward();
      assert.deepEqual(await x.grad!.array(), [7]);
    });
    it('detach and noGrad stop the graph', async () => {
      const x = tsr.tensor([2], { device, requiresGrad: true });
      const y = tsr.mul(x.detach(), x);
      y.sum().backward();
      assert.deepEqual(await x.grad!.array(), [2]);
      const z = tsr.noGrad(() => tsr.mul(x, x));
      assert.equal(z.requiresGrad, false);
      assert.throws(() => z.backward(), /backward: this tensor does not require a gradient/);
    });
    it('backward on a non-scalar needs an explicit gradient', async () => {
      const x = tsr.tensor([1, 2], { device, requiresGrad: true });
      const y = x.mul(3);
      assert.throws(() => y.backward(), /backward: called on a tensor of shape \[2\]; only a scalar/);
      y.backward(tsr.tensor([1, 10], { device }));
      assert.deepEqual(await x.grad!.array(), [3, 30]);
      assert.throws(() => y.backward(tsr.ones([3], { device })), /gradient of shape \[3\] does not match the tensor's shape \[2\]/);
    });
    it('grad and valueAndGrad (functional form)', async () => {
      const f = (w: tsr.Tensor, b: tsr.Tensor) => tsr.matmul(w, tsr.tensor([[1], [2]], { device })).add(b).square().sum();
      const w = tsr.tensor([[1, 1]], { device }), b = tsr.tensor([1], { device });
      const [dw, db] = tsr.grad(f)(w, b);
      // y = w1 + 2 w2 + b = 4; loss = y^2; dL/dw = 2y [1, 2], dL/db = 2y
      assert.deepEqual(await dw!.array(), [[8, 16]]);
      assert.deepEqual(await db!.array(), [8]);
      const [value] = tsr.valueAndGrad(f)(w, b);
      assert.equal(await scalar(value), 16);
      assert.equal(w.grad, null, 'inputs are not modified');
    });
    it('integer tensors cannot require gradients', () => {
      assert.throws(() => tsr.tensor([1, 2], { device, dtype: 'int32', requiresGrad: true }), /requireGrad: only float32 tensors/);
    });
    it('second-order use of a disposed input is a clear error', () => {
      const x = tsr.tensor([1, 2], { device, requiresGrad: true });
      const y = tsr.exp(x);
      x.dispose();
      assert.throws(() => y.sum().backward(), /was already disposed/);
    });
  });
}
