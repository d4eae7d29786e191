// Moving tensors between every pair of devices: values round-trip, gradients flow back across,
// and reads that cannot be synchronous say what to use instead.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { registerBackend } from '../../src/backends/registry.js';
import { testDevices } from '../helpers/check.js';

/** A second CPU device, so the CPU pass moves between two devices too. */
function twin(): string {
  if (!tsr.availableDevices().includes('twin')) registerBackend(Object.create(tsr.getBackend('cpu'), { name: { value: 'twin' }, timer: { value: undefined } }));
  return 'twin';
}

for (const device of testDevices()) {
  const other = device === 'cpu' ? twin() : device;
  describe(`moving between cpu and ${other}`, () => {
    const values = [1.5, -2, 0, NaN, 3e38, -0];
    const same = (a: ArrayLike<number>, b: readonly number[]) => assert.deepEqual(Array.from(a, String), b.map(String));

    it('toAsync moves values both ways from any device; to() does where the source reads synchronously', async () => {
      const host = tsr.tensor(values);
      const there = await host.toAsync(other);
      assert.equal(there.device, other);
      same(await there.data(), values.map(Math.fround));
      const back = await there.toAsync('cpu');
      assert.equal(back.device, 'cpu');
      same(back.dataSync(), values.map(Math.fround));
      const ints = await tsr.tensor([7, -3], { dtype: 'int32' }).toAsync(other);
      same(await (await ints.toAsync('cpu')).data(), [7, -3]);
      assert.equal(host.to(other).device, other, 'from the host, to() is synchronous');
      if (tsr.getBackend(other).readSync) {
        same(there.to('cpu').dataSync(), values.map(Math.fround));
        assert.equal(there.slice([[0, 1]]).item(), 1.5);
      } else {
        assert.throws(() => there.to('cpu'), /to: tensor \[6\] on '.*' can only be read asynchronously there; use await t\.toAsync\('cpu'\)/);
        assert.throws(() => there.slice([[0, 1]]).item(), /cannot be read synchronously; use await tensor\.data\(\)/);
      }
    });

    it('gradients flow back across a move', async () => {
      const x = tsr.tensor([1, 2, 3]).requireGrad();
      if (tsr.getBackend(other).readSync) {
        tsr.mul(x.to(other), x.to(other)).sum().backward();
        same(x.grad!.dataSync(), [2, 4, 6]);
      }
      // from the device to the host: the gradient is made on the host and moved back
      const w = (await tsr.tensor([1, 2, 3]).toAsync(other)).requireGrad();
      const h = await w.toAsync('cpu');
      tsr.mul(h, 3).sum().backward();
      assert.equal(w.grad!.device, other);
      same(await w.grad!.data(), [3, 3, 3]);
    });
  });
}
