// `verify` passes on correct devices and fails on a device that computes a wrong result.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import type { View } from '../../src/backends/backend.js';
import { hostClockTimer } from '../../src/backends/host-timer.js';
import { registerBackend } from '../../src/backends/registry.js';
import { formatVerify } from '../../src/devices/verify.js';
import { testDevices } from '../helpers/check.js';

for (const device of testDevices()) {
  it(`verify: every check on ${device} is within tolerance and ran on ${device}`, async () => {
    const results = await tsr.verifyDevices([device]);
    assert.equal(results.length, 3);
    for (const r of results) {
      assert.equal(r.ok, true, `${r.check}: ${r.problem}`);
      assert.ok(r.maxError <= r.bound);
      assert.ok(r.kernels > 0 && r.deviceMs > 0, `${r.check}: ${r.kernels} kernels, ${r.deviceMs} ms`);
    }
    assert.match(formatVerify(results), new RegExp(`${device} +matmul.*OK`));
  });
}

describe('verify catches a faulty device', () => {
  /** The CPU backend with a matmul that is off by 0.01 in one element. */
  function registerFaulty(): void {
    const cpu = tsr.getBackend('cpu');
    const faulty = Object.create(cpu, {
      name: { value: 'faulty' },
      matmul: {
        value(a: View, b: View, out: View) {
          cpu.matmul(a, b, out);
          const data = cpu.readSync!(out.storage);
          data[out.offset] = data[out.offset]! + 0.01;
          cpu.write(out.storage, data);
        },
        writable: true, configurable: true,
      },
    });
    Object.defineProperty(faulty, 'timer', { value: hostClockTimer(faulty) });
    registerBackend(faulty);
  }

  it('fails the matmul and the training step, passes the conv (no matmul path), and says why', async () => {
    registerFaulty();
    const results = await tsr.verifyDevices(['faulty']);
    const byCheck = Object.fromEntries(results.map((r) => [r.check.split(' ')[0], r]));
    assert.equal(byCheck['matmul']!.ok, false);
    assert.match(byCheck['matmul']!.problem!, /max error 1\.\d+e-2 above/);
    assert.equal(byCheck['training']!.ok, false);
    assert.match(formatVerify(results), /FAIL: max error/);
  });

  it('a check whose work ran on another device fails', async () => {
    const cpu = tsr.getBackend('cpu');
    const elsewhere = Object.create(cpu, { name: { value: 'elsewhere' } });
    Object.defineProperty(elsewhere, 'timer', { value: hostClockTimer(elsewhere) });
    registerBackend(elsewhere);
    const [r] = await tsr.verifyDevices(['elsewhere'], [{
      name: 'sum computed on the cpu instead', tolerance: 1e-6,
      async run() { const t = tsr.ones([4], { device: 'cpu' }); return { got: [(await t.sum().data())[0]!], want: [4] }; },
    }]);
    assert.equal(r!.ok, false);
    assert.equal(r!.maxError, 0);
    assert.match(r!.problem!, /the elsewhere timer saw no kernel run; ops also ran on cpu/);
  });
});
