// Layers: shapes, modes (training/inference), regularisers, custom models and loops.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';

describe('layers', () => {
  it('every layer builds lazily and agrees with its declared output shape', () => {
    const cases: [tsr.Layer, number[]][] = [
      [tsr.layers.dense({ units: 3 }), [4, 5]],
      [tsr.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', strides: 2 }), [2, 7, 7, 3]],
      [tsr.layers.maxPooling2d({ poolSize: 2 }), [1, 4, 4, 2]],
      [tsr.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), [1, 4, 4, 2]],
      [tsr.layers.globalAveragePooling2d(), [2, 3, 3, 5]],
      [tsr.layers.flatten(), [2, 3, 4]],
      [tsr.layers.reshape({ targetShape: [-1, 2] }), [3, 4, 2]],
      [tsr.layers.activation({ activation: 'gelu' }), [2, 3]],
      [tsr.layers.activation({ activation: 'softmax' }), [2, 3]],
      [tsr.layers.dropout({ rate: 0.3 }), [2, 3]],
      [tsr.layers.batchNormalization(), [4, 3]],
      [tsr.layers.layerNormalization(), [4, 3]],
    ];
    for (const [layer, shape] of cases) {
      const y = layer.apply(tsr.randn(shape, { seed: 1 }));
      assert.deepEqual(y.shape, [shape[0], ...layer.computeOutputShape(shape.slice(1))], layer.name);
    }
    const emb = tsr.layers.embedding({ inputDim: 10, outputDim: 4 });
    assert.deepEqual(emb.apply(tsr.tensor(new Int32Array([1, 2, 3, 9]), { shape: [2, 2] })).shape, [2, 2, 4]);
  });

  it('dropout is active only while training; batch norm switches to running statistics', async () => {
    const d = tsr.layers.dropout({ rate: 0.5, seed: 3 });
    const x = tsr.ones([1000]).reshape([10, 100]);
    assert.ok((await d.apply(x).data()).some((v) => v === 0));
    d.eval();
    assert.ok((await d.apply(x).data()).every((v) => v === 1));
    const bn = tsr.layers.batchNormalization({ momentum: 0 });
    const batch = tsr.tensor([[1, 10], [3, 30]]);
    assert.deepEqual(Array.from(await bn.apply(batch).data(), (v) => Math.round(v * 100) / 100), [-1, -1, 1, 1]);
    bn.eval();
    // with momentum 0 the running statistics are the last batch's: mean [2, 20], variance [1, 100]
    const out = await bn.apply(tsr.tensor([[2, 20]])).data();
    assert.ok(Math.abs(out[0]!) < 1e-6 && Math.abs(out[1]!) < 1e-6);
  });

  it('an L2 kernel regulariser adds to the training loss and shrinks weights', async () => {
    tsr.setSeed(5);
    const make = (l2: number) => {
      const m = tsr.sequential([tsr.layers.dense({ units: 4, inputShape: [3], kernelRegularizer: l2 ? { l2 } : undefined })]);
      m.compile({ optimizer: tsr.optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
      return m;
    };
    const x = tsr.randn([32, 3], { seed: 1 }), y = tsr.zeros([32, 4]);
    tsr.setSeed(5); const plain = make(0);
    tsr.setSeed(5); const reg = make(1);
    await plain.fit(x, y, { epochs: 2, verbose: 0 });
    await reg.fit(x, y, { epochs: 2, verbose: 0 });
    const norm = (m: tsr.Sequential) => m.parameters()[0]!.square().sum().item();
    assert.ok(norm(reg) < norm(plain));
  });

  it('kernel regularizers of dense, conv2d and conv1d are l1 |w| + l2 w² summed; bad ones are clear errors', async () => {
    const cases: [tsr.Layer, number[]][] = [
      [tsr.layers.dense({ units: 3, kernelRegularizer: tsr.regularizers.l1l2({ l1: 0.1, l2: 0.2 }) }), [2, 4]],
      [tsr.layers.conv2d({ filters: 2, kernelSize: 3, kernelRegularizer: tsr.regularizers.l1({ l1: 0.3 }) }), [2, 5, 5, 1]],
      [tsr.layers.conv1d({ filters: 2, kernelSize: 2, kernelRegularizer: tsr.regularizers.l2() }), [2, 6, 3]],
    ];
    for (const [layer, shape] of cases) {
      layer.apply(tsr.randn(shape, { seed: 1 }));
      const r = (layer as { kernelRegularizer?: tsr.Regularizer }).kernelRegularizer!;
      const k = Array.from(await layer.namedTensors()[0]![1].data());
      const want = k.reduce((s, w) => s + (r.l1 ?? 0) * Math.abs(w) + (r.l2 ?? 0) * w * w, 0);
      const got = layer.regularization()!.item();
      assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, want), `${layer.name}: ${got} vs ${want}`);
    }
    assert.equal(tsr.layers.dense({ units: 2 }).regularization(), null);
    assert.throws(() => tsr.layers.dense({ units: 2, kernelRegularizer: { l3: 1 } as never }), /dense_\d+: unknown option 'l3' \(expected l1, l2\)/);
    assert.throws(() => tsr.layers.conv2d({ filters: 2, kernelSize: 3, kernelRegularizer: { l2: -1 } }), /kernelRegularizer.l2 must be a finite number >= 0, got -1/);
    assert.throws(() => tsr.layers.dense({ units: 2, kernelRegularizer: {} }), /kernelRegularizer needs l1, l2 or both/);
  });

  it('a custom model subclass trains with fit and with a hand-written loop', async () => {
    class TwoLayer extends tsr.Model {
      hidden = tsr.layers.dense({ units: 8, activation: 'silu' });
      out = tsr.layers.dense({ units: 1 });
      forward(x: tsr.Tensor): tsr.Tensor { return this.out.apply(this.hidden.apply(x)); }
    }
    tsr.setSeed(9);
    const m = new TwoLayer();
    const x = tsr.randn([64, 2], { seed: 2 });
    const y = tsr.tidy(() => x.slice([null, [0, 1]]).mul(x.slice([null, [1, 2]])));
    m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.02 }), loss: 'mse' });
    const h = await m.fit(x, y, { epochs: 30, batchSize: 16, verbose: 0 });
    assert.ok(h.history['loss']![29]! < h.history['loss']![0]! / 2);
    assert.equal(m.parameters().length, 4);
    // the same model in a custom loop with tsr.grad-style backward and an optimizer
    const opt = tsr.optimizers.adamw({ learningRate: 0.01, clipNorm: 1 });
    const before = tsr.tidy(() => tsr.losses.meanSquaredError()(m.apply(x), y).item());
    for (let i = 0; i < 20; i++) {
      tsr.tidy(() => {
        const loss = tsr.losses.meanSquaredError()(m.apply(x), y);
        loss.backward();
        opt.step(m.parameters());
        m.zeroGrad();
      });
    }
    const after = tsr.tidy(() => tsr.losses.meanSquaredError()(m.apply(x), y).item());
    assert.ok(after < before);
  });

  it('learning-rate schedules', () => {
    const cos = tsr.optimizers.cosineDecay(1, 110, { warmupSteps: 10 });
    assert.equal(cos(0), 0.1);
    assert.equal(cos(9), 1);
    assert.ok(Math.abs(cos(60) - 0.5) < 1e-9);
    assert.ok(Math.abs(cos(110)) < 1e-12);
    assert.equal(tsr.optimizers.stepDecay(1, 10, 0.5)(25), 0.25);
    assert.ok(Math.abs(tsr.optimizers.exponentialDecay(1, 10, 0.5)(5) - Math.SQRT1_2) < 1e-12);
    const opt = tsr.optimizers.sgd({ learningRate: tsr.optimizers.stepDecay(0.1, 1, 0.5) });
    const w = tsr.tensor([1], { requiresGrad: true });
    tsr.tidy(() => { w.sum().backward(); opt.step([w]); w.zeroGrad(); });
    assert.equal(opt.learningRate, 0.05);
  });

  it('losses and metrics agree with hand-computed values', async () => {
    const p = tsr.tensor([[0.2, 0.8], [0.9, 0.1]]), t = tsr.tensor([[0, 1], [0, 1]]);
    assert.ok(Math.abs(tsr.losses.meanSquaredError()(p, t).item() - (0.04 + 0.04 + 0.81 + 0.81) / 4) < 1e-6);
    assert.ok(Math.abs(tsr.losses.meanAbsoluteError()(p, t).item() - (0.2 + 0.2 + 0.9 + 0.9) / 4) < 1e-6);
    assert.ok(Math.abs(tsr.losses.huber({ delta: 0.5 })(p, t).item() - (0.02 + 0.02 + 0.325 + 0.325) / 4) < 1e-6);
    assert.ok(Math.abs(tsr.losses.categoricalCrossentropy()(p, t).item() - (-Math.log(0.8) - Math.log(0.1)) / 2) < 1e-5);
    assert.ok(Math.abs(tsr.losses.binaryCrossentropy()(p, t).item() - (-Math.log(0.8) * 2 - Math.log(0.1) - Math.log(0.1)) / 4) < 1e-5);
    assert.ok(Math.abs(tsr.losses.binaryCrossentropy({ fromLogits: true })(tsr.tensor([[0, 100]]), tsr.tensor([[1, 1]])).item() - Math.log(2) / 2) < 1e-6);
    // the losses added for Keras's names, against float64 arithmetic by hand
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-5, `${a} vs ${b}`);
    const pv = [[0.2, 0.8], [0.9, 0.1]], tv = [[0, 1], [0, 1]];
    const each = (f: (x: number, y: number) => number) => pv.flatMap((r, i) => r.map((x, j) => f(x, tv[i]![j]!)));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    close(tsr.losses.hinge()(p, t).item(), mean(each((x, y) => Math.max(1 - (y === 0 ? -1 : y) * x, 0))));
    close(tsr.losses.logcosh()(p, t).item(), mean(each((x, y) => Math.log(Math.cosh(x - y)))));
    close(tsr.losses.poisson()(p, t).item(), mean(each((x, y) => x - y * Math.log(x + 1e-7))));
    const kl = (r: number) => pv[r]!.reduce((acc, x, j) => { const y = Math.min(Math.max(tv[r]![j]!, 1e-7), 1); return acc + y * Math.log(y / Math.min(Math.max(x, 1e-7), 1)); }, 0);
    close(tsr.losses.kullbackLeiblerDivergence()(p, t).item(), (kl(0) + kl(1)) / 2);
    const cos = (r: number) => { const a = pv[r]!, b = tv[r]!; return (a[0]! * b[0]! + a[1]! * b[1]!) / Math.hypot(...a) / Math.hypot(...b); };
    close(tsr.losses.cosineSimilarity()(p, t).item(), -(cos(0) + cos(1)) / 2);
    // and their gradients, by central differences
    for (const name of ['hinge', 'logcosh', 'poisson', 'kld', 'cosineSimilarity']) {
      const loss = (tsr.losses as unknown as Record<string, () => (a: tsr.Tensor, b: tsr.Tensor) => tsr.Tensor>)[name === 'kld' ? 'kullbackLeiblerDivergence' : name]!();
      const x = tsr.tensor([[0.3, 0.6], [0.7, 0.25]]);
      const [g] = tsr.grad((v) => loss(v, t))(x);
      const gv = g!.dataSync();
      const xv = x.dataSync();
      for (let i = 0; i < 4; i++) {
        const at = (d: number) => { const w = Float32Array.from(xv); w[i]! += d; return loss(tsr.tensor(w).reshape([2, 2]), t).item(); };
        const fd = (at(1e-3) - at(-1e-3)) / 2e-3;
        assert.ok(Math.abs(gv[i]! - fd) < 2e-3, `${name} d/dx${i}: ${gv[i]} vs ${fd}`);
      }
    }
    const mse = tsr.metrics.resolveMetric('mse'), mae = tsr.metrics.resolveMetric('mae');
    const scoresF = tsr.tensor([[1, 2], [3, 5]]), targetsF = tsr.tensor([[1, 1], [1, 1]]);
    const counted = async (c: [tsr.metrics.Count, tsr.metrics.Count]) => [await tsr.metrics.readCount(c[0]), await tsr.metrics.readCount(c[1])];
    assert.deepEqual(await counted(mse.batch(scoresF, targetsF)), [0 + 1 + 4 + 16, 4]);
    assert.deepEqual(await counted(mae.batch(scoresF, targetsF)), [0 + 1 + 2 + 4, 4]);
    const scores = tsr.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]]), labels = tsr.tensor(new Int32Array([2, 0]));
    const counts = async (c: [tsr.metrics.Count, tsr.metrics.Count]) => [await tsr.metrics.readCount(c[0]), await tsr.metrics.readCount(c[1])];
    assert.deepEqual(await counts(tsr.metrics.accuracy.batch(scores, labels)), [1, 2]);
    assert.deepEqual(await counts(tsr.metrics.topKAccuracy(2).batch(scores, labels)), [2, 2]);
  });
});
