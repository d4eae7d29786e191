// The webgpu device beyond the shared op suite: agreement with the CPU when training, fit on
// the device, and faults (compile errors, out of memory, no adapter) as clear errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/discover.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { scalar, settledMemory, testDevices } from '../helpers/check.js';

const skip = testDevices().includes('webgpu') ? false : 'runs in the WebGPU pass (npm run test:webgpu; CI uses Mesa lavapipe)';

function mlp(device: string): tsr.Sequential {
  tsr.setDefaultDevice(device);
  tsr.setSeed(4);
  const m = tsr.sequential([tsr.layers.dense({ units: 32, activation: 'gelu', inputShape: [20] }), tsr.layers.layerNormalization(), tsr.layers.dense({ units: 5 })]);
  tsr.setDefaultDevice('cpu');
  return m;
}

async function trainLosses(device: string, steps: number): Promise<number[]> {
  const m = mlp(device);
  const opt = tsr.optimizers.adam({ learningRate: 0.01 });
  const x = tsr.randn([64, 20], { seed: 1, device }), y = tsr.randint(0, 5, [64], { seed: 2, device });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = tsr.tidy(() => {
      const l = tsr.crossEntropy(m.apply(x), y);
      l.backward();
      opt.step(m.parameters());
      m.zeroGrad();
      return l;
    });
    losses.push(await scalar(loss));
    loss.dispose();
  }
  return losses;
}

describe('webgpu device', { skip }, () => {
  it('reports the adapter and its limits', () => {
    const info = tsr.getBackend('webgpu').info();
    assert.equal(info.kind, 'gpu');
    assert.ok(info.description.length > 0);
    assert.ok(Number(info.details['maxStorageBufferBindingSize']) > 0);
  });

  it('training agrees with the CPU step by step (same seeds, same numbers)', async () => {
    const cpu = await trainLosses('cpu', 15), gpu = await trainLosses('webgpu', 15);
    cpu.forEach((c, i) => assert.ok(Math.abs(c - gpu[i]!) <= 2e-3 * Math.max(1, Math.abs(c)), `step ${i}: cpu ${c}, webgpu ${gpu[i]}`));
    assert.ok(gpu[14]! < gpu[0]!);
  });

  it('fit trains a CNN on the device and leaks nothing between epochs', async () => {
    tsr.setDefaultDevice('webgpu');
    try {
      tsr.setSeed(1);
      const m = tsr.sequential([
        tsr.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }),
        tsr.layers.maxPooling2d(),
        tsr.layers.flatten(),
        tsr.layers.dense({ units: 2 }),
      ]);
      m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.01 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
      // class 1: bright left half
      const x = tsr.tidy(() => tsr.rand([64, 8, 8, 1], { seed: 3 }).mul(0.5));
      const y = tsr.randint(0, 2, [64], { seed: 4 });
      const bright = tsr.tidy(() => tsr.add(x, tsr.mul(y.cast('float32').reshape([64, 1, 1, 1]), tsr.pad(tsr.ones([8, 4, 1]), [[0, 0], [0, 4], [0, 0]]))));
      const seen: [number, number][] = [];
      const h = await m.fit(bright, y, { epochs: 6, batchSize: 16, verbose: 0, callbacks: [{ onEpochEnd: async () => { const mem = await settledMemory(); seen.push([mem.numTensors, mem.numCollected]); } }] });
      assert.deepEqual(seen[5], seen[0]);
      assert.ok(h.history['accuracy']![5]! > 0.9, `accuracy ${h.history['accuracy']}`);
      assert.equal(m.predict(bright).device, 'webgpu');
    } finally {
      tsr.setDefaultDevice('cpu');
    }
  });

  it('moves tensors and models from the CPU; mixing devices is an error naming both', async () => {
    const c = tsr.tensor([1, 2, 3]);
    const g = c.to('webgpu');
    assert.equal(g.device, 'webgpu');
    assert.deepEqual([...(await g.data())], [1, 2, 3]);
    assert.throws(() => tsr.add(c, g), /add: inputs are on different devices \('cpu' and 'webgpu'\); move one with \.to\('cpu'\)/);
    const m = mlp('cpu').to('webgpu');
    assert.ok(m.parameters().every((p) => p.device === 'webgpu'));
  });

  it('a kernel that fails to compile reports the error with the numbered WGSL', async () => {
    const rt = (tsr.getBackend('webgpu') as WebGpuBackend).runtime;
    rt.kernel('deliberately-broken', () => '@compute @workgroup_size(1) fn main() { let x: f32 = undefined_name; }', 'broken test kernel');
    await new Promise((r) => setTimeout(r, 50));
    // it surfaces at the next operation on the device
    await assert.rejects(async () => tsr.ones([2], { device: 'webgpu' }).data(), /webgpu: kernel 'broken test kernel' failed to compile: [\s\S]*undefined_name[\s\S]*   1: @compute/);
    // the error is reported once; the device keeps working
    assert.deepEqual([...(await tsr.ones([2], { device: 'webgpu' }).data())], [1, 1]);
  });

  it('a tensor larger than the device allows is an error naming the size', () => {
    const limit = Number(tsr.getBackend('webgpu').info().details['maxStorageBufferBindingSize']);
    const n = Math.ceil(limit / 4) + 1;
    assert.throws(() => tsr.zeros([n], { device: 'webgpu' }), new RegExp(`webgpu: out of memory: a tensor of ${n * 4} bytes exceeds the device's largest storage buffer`));
  });

  it('products more than 65535 tiles tall, and batches longer than 65535, split into dispatches WebGPU allows', async () => {
    // 64-row tiles: 4,194,304 + 100 rows need 65,538 of them (an im2col of a CNN at batch 5,400 needs 66,150)
    const rows = 65536 * 64 + 100;
    const a = tsr.rand([rows, 3], { seed: 1 }), b = tsr.rand([3, 2], { seed: 2 });
    const want = await tsr.matmul(a, b).data();
    const got = await tsr.matmul(a.to('webgpu'), b.to('webgpu')).data();
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    assert.ok(worst < 1e-5, `max |gpu - cpu| = ${worst}`);
    const many = tsr.rand([70000, 2, 2], { seed: 3 });
    const batched = await tsr.matmul(many.to('webgpu'), many.to('webgpu')).data(), cpu = await tsr.matmul(many, many).data();
    assert.ok(cpu.every((v, i) => Math.abs(v - batched[i]!) < 1e-5), 'every one of the 70,000 products');
    // no error left behind for a later op
    assert.deepEqual([...(await tsr.ones([2], { device: 'webgpu' }).data())], [1, 1]);
  });

  it('an adapter can be chosen by part of its name', async () => {
    const info = tsr.getBackend('webgpu').info();
    const part = String(info.details['device']).slice(0, 8);
    const r = await createWebGpuBackend({ adapterName: part.toUpperCase() });
    assert.ok(!('reason' in r), JSON.stringify(r));
    assert.equal((r as WebGpuBackend).info().description, info.description);
    (r as WebGpuBackend).release();
  });

  it('a lost device is an error on the next op and read, not a hang', async () => {
    const made = await createWebGpuBackend();
    assert.ok(!('reason' in made));
    const gpu = made as WebGpuBackend;
    const s = gpu.alloc('float32', 4);
    gpu.write(s, Float32Array.of(1, 2, 3, 4));
    gpu.runtime.device.destroy();
    await assert.rejects(gpu.read(s), /webgpu: the GPU device was lost or destroyed/);
    assert.throws(() => gpu.alloc('float32', 4), /webgpu: the GPU device was lost or destroyed/, 'later ops fail at once');
  });

  it('an adapter that is not there is reported with what was tried and how to get one', async () => {
    const r = await createWebGpuBackend({ adapterName: 'no-such-gpu-xyz' });
    assert.ok('reason' in r && /no adapter matches 'no-such-gpu-xyz'; found: '.+'/.test(r.reason), JSON.stringify(r));
  });
});
