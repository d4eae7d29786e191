// tidy, dispose, keep, live counts, and the safety net for unreachable tensors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { settledMemory, testDevices } from '../helpers/check.js';

for (const device of testDevices()) {
  describe(`memory on ${device}`, () => {
    it('tidy frees intermediates and keeps what is returned', () => {
      const before = tsr.memory();
      const x = tsr.ones([100], { device });
      const y = tsr.tidy(() => x.mul(2).add(1).exp());
      const after = tsr.memory();
      assert.equal(after.numTensors, before.numTensors + 2);
      assert.equal(after.numBytes, before.numBytes + 800);
      x.dispose();
      y.dispose();
      assert.equal(tsr.memory().numTensors, before.numTensors);
      assert.equal(tsr.memory().numBytes, before.numBytes);
    });
    it('tidy returns arrays and objects of tensors, nested tidy moves results up', () => {
      const before = tsr.memory().numTensors;
      const r = tsr.tidy(() => {
        const inner = tsr.tidy(() => ({ a: tsr.ones([2], { device }).add(1), list: [tsr.zeros([3], { device })] }));
        return [inner.a, inner.list[0]];
      });
      assert.equal(tsr.memory().numTensors, before + 2);
      r.forEach((t) => t!.dispose());
      assert.equal(tsr.memory().numTensors, before);
    });
    it('tidy disposes on error and rejects async functions', async () => {
      const before = tsr.memory().numTensors;
      assert.throws(() => tsr.tidy(() => { tsr.ones([2], { device }); throw new Error('boom'); }), /boom/);
      assert.equal(tsr.memory().numTensors, before);
      assert.throws(() => tsr.tidy((async () => tsr.ones([1], { device })) as unknown as () => tsr.Tensor), /tidy: the function returned a Promise/);
    });
    it('views share storage and free it with the last view', () => {
      const before = tsr.memory();
      const x = tsr.ones([10], { device });
      const v = x.reshape([2, 5]);
      x.dispose();
      assert.equal(tsr.memory().numBytes, before.numBytes + 40);
      v.dispose();
      assert.equal(tsr.memory().numBytes, before.numBytes);
    });
    it("the device's allocator reports what it reserves: at least what is in use, kept after a free for reuse", () => {
      const x = tsr.ones([1 << 16], { device });
      const used = tsr.memory().devices[device]!;
      assert.ok(used.reservedBytes !== undefined && used.reservedBytes >= used.bytes, JSON.stringify(used));
      x.dispose();
      const after = tsr.memory().devices[device]!;
      assert.equal(after.bytes, used.bytes - (1 << 18));
      // the CPU heap gives a freed block at its top back (it merges free neighbours), and a PJRT
      // plugin's allocator reports what it holds now; GPU allocators cache it
      if (device === 'cpu' || 'pjrtApi' in tsr.getBackend(device).info().details) assert.ok(after.reservedBytes! <= used.reservedBytes! && after.reservedBytes! >= after.bytes, JSON.stringify(after));
      else assert.equal(after.reservedBytes, used.reservedBytes, 'freed blocks stay reserved for the next tensor');
    });
    it('using a disposed tensor is a clear error', async () => {
      const x = tsr.ones([2, 2], { device });
      x.dispose();
      assert.throws(() => x.add(1), /add: tensor #\d+ \(shape \[2, 2\], float32\) was already disposed/);
      await assert.rejects(x.data(), /data: tensor #\d+ .* was already disposed/);
      x.dispose(); // twice is harmless
    });
    it('keep protects a tensor inside tidy', () => {
      let kept: tsr.Tensor | undefined;
      tsr.tidy(() => { kept = tsr.keep(tsr.ones([1], { device })); });
      assert.equal(kept!.isDisposed, false);
      kept!.dispose();
    });
    it('unreachable tensors are freed by the safety net, and counted as collected', { skip: typeof globalThis.gc !== 'function' ? 'run node with --expose-gc (npm test does)' : false }, async () => {
      // earlier garbage collected first, so only this test's tensors are counted
      const { numBytes: before, numCollected: collectedBefore } = await settledMemory();
      tsr.ones([1000], { device }).dispose();
      (() => { for (let i = 0; i < 50; i++) tsr.ones([1000], { device }); })();
      assert.ok(tsr.memory().numBytes >= before + 50 * 4000);
      for (let i = 0; i < 10 && tsr.memory().numBytes > before; i++) {
        globalThis.gc!();
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(tsr.memory().numBytes, before);
      // the 50 dropped ones, not the disposed one
      assert.equal(tsr.memory().numCollected - collectedBefore, 50);
    });
  });
}
