// A raw training loop (forward, backward, fused optimizer update): it learns, and it leaks nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { scalar, settledMemory, testDevices } from '../helpers/check.js';

function mlp(device: string, inputs: number): tsr.Sequential {
  const before = tsr.getDefaultDevice();
  tsr.setDefaultDevice(device);
  tsr.setSeed(3);
  const model = tsr.sequential([
    tsr.layers.dense({ units: 32, activation: 'relu', inputShape: [inputs] }),
    tsr.layers.dense({ units: 3 }),
  ]);
  tsr.setDefaultDevice(before);
  return model;
}

for (const device of testDevices()) {
  describe(`training step on ${device}`, () => {
    const x = tsr.randn([64, 8], { seed: 1, device });
    // a learnable rule: class = argmax of three fixed projections
    const proj = tsr.randn([8, 3], { seed: 2, device });
    const y = tsr.argmax(tsr.matmul(x, proj), 1);

    for (const opt of [tsr.optimizers.adam({ learningRate: 1e-2 }), tsr.optimizers.sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }), tsr.optimizers.rmsprop({ learningRate: 1e-2 }), tsr.optimizers.adamw({ learningRate: 1e-2, clipNorm: 1 })]) {
      it(`${opt.constructor.name} lowers the loss`, async () => {
        const model = mlp(device, 8);
        const losses: number[] = [];
        for (let step = 0; step < 60; step++) {
          const loss = tsr.tidy(() => {
            const l = tsr.crossEntropy(model.apply(x), y);
            l.backward();
            opt.step(model.parameters());
            model.zeroGrad();
            return l;
          });
          losses.push(await scalar(loss));
          loss.dispose();
        }
        assert.ok(losses[59]! < losses[0]! * 0.5, `loss went from ${losses[0]} to ${losses[59]}`);
        model.dispose();
        opt.dispose();
      });
    }

    it('200 steps leave live tensors and bytes unchanged', async () => {
      const model = mlp(device, 8);
      const opt = tsr.optimizers.adam();
      const step = () => tsr.tidy(() => {
        const loss = tsr.crossEntropy(model.apply(x), y);
        loss.backward();
        opt.step(model.parameters());
        model.zeroGrad();
      });
      step();
      const after1 = await settledMemory();
      for (let i = 0; i < 199; i++) step();
      const after200 = await settledMemory();
      assert.equal(after200.numTensors, after1.numTensors);
      assert.equal(after200.numBytes, after1.numBytes);
      assert.equal(after200.numCollected, after1.numCollected, 'no step drops a tensor for the GC');
      model.dispose();
      opt.dispose();
    });

    it('Adam matches a float64 re-implementation step by step', async () => {
      const w = tsr.tensor([0.5, -1.5, 2], { device, requiresGrad: true });
      const opt = tsr.optimizers.adam({ learningRate: 0.1 });
      let ref = [0.5, -1.5, 2];
      const m = [0, 0, 0], v = [0, 0, 0];
      for (let t = 1; t <= 5; t++) {
        tsr.tidy(() => { w.square().mul(w).sum().backward(); opt.step([w]); w.zeroGrad(); });
        ref = ref.map((p, i) => {
          const g = 3 * p * p;
          m[i] = 0.9 * m[i]! + 0.1 * g;
          v[i] = 0.999 * v[i]! + 0.001 * g * g;
          return p - (0.1 / (1 - 0.9 ** t)) * m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
        });
      }
      const got = await w.data();
      ref.forEach((r, i) => assert.ok(Math.abs(got[i]! - r) < 1e-5, `w[${i}] = ${got[i]}, expected ${r}`));
    });
  });
}
