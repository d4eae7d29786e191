// The Keras / TF.js surface as TF.js users write it: a softmax output trained with
// categoricalCrossentropy, sequential({ layers }), model.add, callbacks as one object,
// getWeights/setWeights, getLayer; and the errors for their misuse.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';

/** Fashion-MNIST-like toy data: 4 classes told apart by which quarter of the features is large. */
function toyData(n: number): { x: tsr.Tensor; oneHot: tsr.Tensor } {
  const x = new Float32Array(n * 8), y = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = (Math.floor(j / 2) === c ? 1 : 0) + 0.1 * Math.sin(i * 7 + j);
    y[i * 4 + c] = 1;
  }
  return { x: tsr.tensor(x).reshape([n, 8]), oneHot: tsr.tensor(y).reshape([n, 4]) };
}

describe('the TF.js-style surface', () => {
  it('a TF.js program runs unchanged: softmax output, categoricalCrossentropy, sequential({ layers }), add, object callbacks, getWeights/setWeights', async () => {
    tsr.setSeed(5);
    const model = tsr.sequential({ layers: [tsr.layers.dense({ units: 16, activation: 'relu', inputShape: [8] })], name: 'tfjs_style' });
    model.add(tsr.layers.dense({ units: 4, activation: 'softmax' }));
    // a custom metric whose count is an int32 tensor
    const confident: tsr.metrics.Metric = { name: 'confident', batch: (p) => [tsr.noGrad(() => p.greater(0.5).cast('int32').sum()), p.shape[0]!] };
    model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy', 'mse', confident] });
    const { x, oneHot } = toyData(64);
    const seen: number[] = [];
    const history = await model.fit(x, oneHot, { epochs: 30, batchSize: 16, verbose: 0, callbacks: { onEpochEnd: (epoch: number) => { seen.push(epoch); } } });
    assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i));
    assert.ok(history.history['accuracy']!.at(-1)! > 0.95, `accuracy ${history.history['accuracy']!.at(-1)}`);
    assert.ok(history.history['mse']!.at(-1)! < history.history['mse']![0]!);
    // the int32 counts arrive as the share of samples with a class above one half
    const confidentShare = history.history['confident']!;
    assert.ok(confidentShare.every((v) => v >= 0 && v <= 1) && confidentShare.at(-1)! > confidentShare[0]!, JSON.stringify(confidentShare));
    // the outputs are probabilities: every row sums to 1
    const probs = (await model.predict(x).array()) as number[][];
    for (const row of probs) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.equal(model.name, 'tfjs_style');

    // weights out and back in: a second model made the same way predicts the same once set
    const weights = model.getWeights();
    assert.deepEqual(weights.map((w) => w.shape), [[8, 16], [16], [16, 4], [4]]);
    const twin = tsr.sequential({ layers: [tsr.layers.dense({ units: 16, activation: 'relu', inputShape: [8] }), tsr.layers.dense({ units: 4, activation: 'softmax' })] });
    twin.setWeights(weights);
    assert.deepEqual(Array.from(await twin.predict(x).data()), Array.from(await model.predict(x).data()));
    // getWeights gives copies: changing them leaves the model alone
    const before = Array.from(await model.predict(x).data());
    weights.forEach((w) => w.dispose());
    assert.deepEqual(Array.from(await model.predict(x).data()), before);
    assert.equal(model.getLayer(model.layers[1]!.name), model.layers[1]);
  });

  it('misuse is named: setWeights with the wrong count or shapes, unknown layers, activations and metrics, sequential without layers', () => {
    const m = tsr.sequential([tsr.layers.dense({ units: 3, inputShape: [2] })]);
    assert.throws(() => m.setWeights([tsr.zeros([2, 3])]), /setWeights: expected 2 tensors \(dense_\d+\.kernel \[2, 3\], dense_\d+\.bias \[3\]\), got 1/);
    assert.throws(() => m.setWeights([tsr.zeros([3, 2]), tsr.zeros([3])]), /setWeights: dense_\d+\.kernel is \[2, 3\] float32, value 1 is \[3, 2\] float32/);
    assert.throws(() => m.getLayer('nope'), /no layer named 'nope' \(layers: dense_\d+\)/);
    assert.throws(() => tsr.layers.dense({ units: 2, activation: 'softmaxx' as 'softmax' }), /unknown activation 'softmaxx' \(expected one of linear, relu, .*exponential, softmax\)/);
    assert.throws(() => m.compile({ optimizer: 'adam', loss: 'mse', metrics: ['rmse'] }), /unknown metric 'rmse' \(expected .*mse, mae/);
    assert.throws(() => m.compile({ optimizer: 'adam', loss: 'kl' }), /unknown loss 'kl' \(expected one of .*kld/);
    assert.throws(() => tsr.sequential({ layers: 'dense' as unknown as tsr.nn.Layer[] }), /sequential: layers must be a list of layers, got 'dense'/);
    assert.throws(() => tsr.sequential([{} as tsr.nn.Layer]), /sequential: layer 1 is not a layer/);
    assert.throws(() => m.add(3 as unknown as tsr.nn.Layer), /add\(\) takes a layer, got 3/);
  });

  it('softmax and leakyReLU layers, and a conv2d with a softmax over its channels, save and load', async () => {
    tsr.setSeed(6);
    const m = tsr.sequential([
      tsr.layers.conv2d({ filters: 3, kernelSize: 2, activation: 'softmax', inputShape: [4, 4, 1] }),
      tsr.layers.flatten(), tsr.layers.leakyReLU({ alpha: 0.1 }), tsr.layers.dense({ units: 5 }), tsr.layers.softmax(),
    ]);
    const x = tsr.rand([2, 4, 4, 1], { seed: 1 });
    const conv = m.layers[0]!.apply(x);
    const channels = (await conv.array()) as number[][][][];
    for (const v of channels.flat(2)) assert.ok(Math.abs(v.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = join(mkdtempSync(join(tmpdir(), 'tessera-keras-')), 'm');
    await m.save(dir);
    const back = await tsr.loadModel(dir);
    assert.deepEqual(Array.from(await (back.predict(x) as tsr.Tensor).data()), Array.from(await m.predict(x).data()));
  });
});
