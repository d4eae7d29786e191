// Listing and choosing devices, the placement log, mixing devices, and the profiler.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { registerBackend } from '../../src/backends/registry.js';
import { testDevices } from '../helpers/check.js';

// the listing opens GPU devices; an open Dawn device would keep the process alive
after(() => tsr.releaseDevices());

/** A second CPU device under another name: enough to test device mixing without a GPU. */
function registerTwin(name: string): void {
  const cpu = tsr.getBackend('cpu');
  if (!tsr.availableDevices().includes(name)) registerBackend(Object.create(cpu, { name: { value: name }, timer: { value: undefined } }));
}

describe('listDevices', () => {
  it('lists the cpu with cores, instruction sets and BLAS, and says why others are unavailable', async () => {
    const list = await tsr.listDevices();
    const cpu = list.find((d) => d.name === 'cpu')!;
    assert.equal(cpu.available, true);
    assert.ok(Number(cpu.details!['cores']) >= 1);
    assert.match(String(cpu.details!['blas']), /OpenBLAS|none: /);
    assert.equal(typeof cpu.details!['features'], 'string');
    const cuda = list.find((d) => d.name === 'cuda')!;
    if (cuda.available) {
      assert.match(String(cuda.details!['computeCapability']), /^\d+\.\d$/);
      assert.ok(Number(cuda.details!['memoryBytes']) > 0);
      assert.match(String(cuda.details!['nvrtc']), /^\d+\.\d+ \(/);
    } else {
      assert.match(cuda.reason!, /CUDA|libcuda|NVRTC|cuBLAS|GPU/);
    }
    const webgpu = list.find((d) => d.name === 'webgpu')!;
    if (webgpu.available) {
      assert.equal(webgpu.kind, 'gpu');
      assert.ok(Number(webgpu.details!['maxStorageBufferBindingSize']) > 0);
      assert.equal(typeof webgpu.software, 'boolean');
    } else {
      assert.ok(webgpu.reason!.length > 10, webgpu.reason);
    }
  });
});

describe('choosing devices', () => {
  it('withDevice sets the default for sync and async work and always restores it', async () => {
    registerTwin('twin');
    assert.equal(tsr.getDefaultDevice(), 'cpu');
    const t = tsr.withDevice('twin', () => tsr.zeros([2]));
    assert.equal(t.device, 'twin');
    assert.equal(tsr.getDefaultDevice(), 'cpu');
    const u = await tsr.withDevice('twin', async () => { await Promise.resolve(); return tsr.ones([1]); });
    assert.equal(u.device, 'twin');
    assert.equal(tsr.getDefaultDevice(), 'cpu');
    assert.throws(() => tsr.withDevice('twin', () => { throw new Error('boom'); }), /boom/);
    assert.equal(tsr.getDefaultDevice(), 'cpu');
    await assert.rejects(tsr.withDevice('twin', async () => { throw new Error('later'); }), /later/);
    assert.equal(tsr.getDefaultDevice(), 'cpu');
    t.dispose(); u.dispose();
  });

  it('an unknown or unavailable device is an error that says why', async () => {
    assert.throws(() => tsr.setDefaultDevice('nonesuch'), /unknown or unavailable device 'nonesuch' \(available: cpu/);
    await tsr.initDevices();
    const why = tsr.unavailableDevices()['cuda'];
    if (why) assert.throws(() => tsr.zeros([1], { device: 'cuda' }), new RegExp(`device 'cuda' is unavailable: ${why.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it("'auto' picks a hardware GPU or the cpu, and says why", async () => {
    await tsr.initDevices();
    const auto = tsr.autoDevice();
    const gpus = (await tsr.listDevices()).filter((d) => d.available && d.kind !== 'cpu');
    if (gpus.some((d) => !d.software)) assert.notEqual(auto.device, 'cpu');
    else assert.equal(auto.device, 'cpu');
    assert.ok(auto.why.length > 0);
    assert.equal(tsr.setDefaultDevice('auto'), auto.device);
    tsr.setDefaultDevice('cpu');
  });

  it('mixing devices in one op without .to() names both devices; .to() moves a tensor and model', () => {
    registerTwin('twin');
    const a = tsr.ones([2, 2]), b = tsr.ones([2, 2], { device: 'twin' });
    assert.throws(() => tsr.matmul(a, b), /matmul: inputs are on different devices \('cpu' and 'twin'\); move one with \.to\('cpu'\)/);
    const c = tsr.matmul(a, b.to('cpu'));
    assert.deepEqual([...c.dataSync()], [2, 2, 2, 2]);
    const model = tsr.sequential([tsr.layers.dense({ units: 3, inputShape: [2] })]);
    model.ensureBuilt([2]);
    model.to('twin');
    assert.ok(model.parameters().every((p) => p.device === 'twin'));
    assert.equal(model.apply(b).device, 'twin');
  });
});

for (const device of testDevices()) {
  describe(`placement log and profiler on ${device}`, () => {
    it('the placement log names every op, its gradient, and the device', async () => {
      const lines: string[] = [];
      tsr.setLogDevicePlacement((l) => lines.push(l));
      try {
        const x = tsr.rand([3, 4], { device }).requireGrad();
        const loss = tsr.matmul(x, tsr.ones([4, 2], { device })).relu().sum();
        loss.backward();
        assert.ok(lines.includes(`[placement] matmul: ${device}`), lines.join('\n'));
        assert.ok(lines.includes(`[placement] relu: ${device}`));
        assert.ok(lines.includes(`[placement] matmul.grad: ${device}`));
        assert.ok(lines.includes(`[placement] rand: ${device}`));
      } finally {
        tsr.setLogDevicePlacement(false);
      }
      const before = lines.length;
      tsr.zeros([1], { device }).dispose();
      assert.equal(lines.length, before, 'logging stops when switched off');
    });

    it('profile times each op on the device, counts calls, and labels gradients', async () => {
      const a = tsr.rand([64, 96], { device }).requireGrad(), b = tsr.rand([96, 32], { device });
      const { result, report } = await tsr.profile(async () => {
        let total = 0;
        for (let i = 0; i < 3; i++) {
          const loss = tsr.tidy(() => {
            const l = tsr.matmul(a, b).tanh().mean();
            l.backward();
            return l;
          });
          total += (await loss.data())[0]!;
          loss.dispose();
        }
        return total;
      });
      assert.ok(Number.isFinite(result));
      const row = (op: string) => report.rows.find((r) => r.op === op && r.device === device);
      const mm = row('matmul')!;
      assert.equal(mm.calls, 3);
      assert.ok(mm.kernels >= 3);
      assert.ok(mm.totalMs > 0, 'the device timer measured time');
      assert.ok(Math.abs(mm.meanMs - mm.totalMs / 3) < 1e-9);
      assert.ok(row('tanh.grad')!.calls === 3, 'each backward pass through tanh counts once');
      assert.ok(row('matmul.grad')!.kernels >= 3);
      assert.deepEqual(report.rows.map((r) => r.totalMs), [...report.rows.map((r) => r.totalMs)].sort((x, y) => y - x));
      assert.match(report.clocks[device]!, { cpu: /host clock/, webgpu: /timestamp/, cuda: /CUDA events/ }[device] ?? /./);
      assert.match(report.format(), /matmul\.grad/);
      await assert.rejects(tsr.profile(() => tsr.profile(() => 1)), /profiles do not nest/);
      a.dispose(); b.dispose(); a.grad?.dispose();
    });

    it('after a profile the device runs untimed again', async () => {
      await tsr.profile(() => tsr.rand([4], { device }).data());
      const { report } = await tsr.profile(() => 0);
      assert.equal(report.rows.length, 0);
      const x = tsr.rand([1000], { device });
      assert.ok((await x.sum().data())[0]! > 0);
    });
  });
}
