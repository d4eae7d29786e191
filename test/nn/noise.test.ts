// The layers that draw while training: Gaussian noise of the asked spread, spatial dropout of
// whole channels, both identity at inference, reproducible from their seeds, and replayed by
// compiled steps exactly as run eagerly.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;

for (const device of testDevices()) {
  describe(`random layers on ${device}`, () => {
    it('gaussianNoise adds noise of mean 0 and the given spread while training, from its seed; nothing at inference', async () => {
      const layer = L.gaussianNoise({ stddev: 0.5, seed: 3 });
      const x = tsr.zeros([20000], { device }).reshape([200, 100]);
      const a = Array.from(await layer.apply(x).data());
      const mean = a.reduce((s, v) => s + v, 0) / a.length;
      const sd = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
      assert.ok(Math.abs(mean) < 0.02 && Math.abs(sd - 0.5) < 0.02, `mean ${mean}, sd ${sd}`);
      const b = Array.from(await layer.apply(x).data());
      assert.notDeepEqual(b, a, 'each call draws afresh');
      const again = L.gaussianNoise({ stddev: 0.5, seed: 3 });
      assert.deepEqual(Array.from(await again.apply(x).data()), a, 'the same seed draws the same stream');
      layer.train(false);
      assert.deepEqual(Array.from(await layer.apply(x).data()), new Array(20000).fill(0));
    });

    it('spatialDropout2d and spatialDropout1d drop whole channels of each sample and scale the rest', async () => {
      for (const [layer, shape] of [[L.spatialDropout2d({ rate: 0.5, seed: 1 }), [8, 3, 3, 16]], [L.spatialDropout1d({ rate: 0.5, seed: 2 }), [8, 5, 16]]] as const) {
        const x = tsr.ones([...shape], { device });
        const y = Array.from(await layer.apply(x).data());
        const channels = shape[shape.length - 1]!, per = shape.slice(1, -1).reduce((p, d) => p * d, 1);
        let dropped = 0;
        for (let b = 0; b < shape[0]; b++) {
          for (let c = 0; c < channels; c++) {
            const values = new Set(Array.from({ length: per }, (_, k) => y[(b * per + k) * channels + c]));
            assert.equal(values.size, 1, `sample ${b}, channel ${c}: ${[...values]}`);
            const v = [...values][0]!;
            assert.ok(v === 0 || v === 2, String(v));
            if (v === 0) dropped++;
          }
        }
        const share = dropped / (shape[0] * channels);
        assert.ok(share > 0.3 && share < 0.7, `dropped ${share}`);
        layer.train(false);
        assert.deepEqual(Array.from(await layer.apply(x).data()), new Array(y.length).fill(1));
      }
      assert.throws(() => L.spatialDropout2d({ rate: 0.2 }).apply(tsr.ones([2, 3], { device })), /spatial_dropout2d_\d+: expects inputs of rank 4/);
      assert.throws(() => L.gaussianNoise({ stddev: -1 }), /gaussian_noise_\d+: stddev must be a non-negative number, got -1/);
    });

    it('fit through noise and spatial dropout trains the same compiled as eagerly', async () => {
      const x = tsr.randn([24, 6, 4], { seed: 5, device: 'cpu' }), y = tsr.randint(0, 3, [24], { seed: 6, device: 'cpu' });
      const run = async (jit: boolean) => {
        tsr.setSeed(7);
        const m = tsr.sequential([
          L.gaussianNoise({ stddev: 0.1, seed: 11, inputShape: [6, 4] }), L.conv1d({ filters: 5, kernelSize: 2 }), L.spatialDropout1d({ rate: 0.3, seed: 12 }),
          L.globalAveragePooling1d(), L.dense({ units: 3 }),
        ]);
        m.to(device);
        m.compile({ optimizer: 'adam', loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), jit });
        const h = await m.fit(x, y, { epochs: 4, batchSize: 8, verbose: 0, seed: 2 });
        const w = await Promise.all(m.getWeights().map((t) => t.data()));
        return { loss: h.history['loss']!, w };
      };
      const eager = await run(false), compiled = await run(true);
      const close = (a: number, b: number) => (device === 'cpu' ? a === b : Math.abs(a - b) <= 1e-5 + 1e-4 * Math.abs(b));
      compiled.loss.forEach((l, i) => assert.ok(close(l, eager.loss[i]!), `epoch ${i + 1}: ${l} vs ${eager.loss[i]}`));
      compiled.w.forEach((w, i) => w.forEach((v, j) => assert.ok(close(v, eager.w[i]![j]!), `weight ${i}[${j}]`)));
    });
  });
}
