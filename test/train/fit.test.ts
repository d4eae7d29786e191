// compile/fit/evaluate/predict: learning, validation, shuffling, callbacks, memory, bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { settledMemory } from '../helpers/check.js';

/** Three separable blobs in 2-D. */
function blobs(n: number, seed: number): { x: tsr.Tensor; y: tsr.Tensor } {
  const labels = tsr.randint(0, 3, [n], { seed });
  const centers = tsr.tensor([[2, 0], [-2, 2], [0, -2]]);
  const x = tsr.tidy(() => tsr.add(tsr.gather(centers, labels, 0), tsr.randn([n, 2], { seed: seed + 1, std: 0.5 })));
  return { x, y: labels };
}

function classifier(): tsr.Sequential {
  tsr.setSeed(1);
  const m = tsr.sequential([tsr.layers.dense({ units: 16, activation: 'relu', inputShape: [2] }), tsr.layers.dense({ units: 3 })]);
  m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.02 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
  return m;
}

describe('Model.fit', () => {
  const { x, y } = blobs(600, 3);

  it('learns, reports per-epoch history with validation, and evaluates', async () => {
    const m = classifier();
    const h = await m.fit(x, y, { epochs: 5, batchSize: 32, validationSplit: 0.2, verbose: 0 });
    assert.deepEqual(h.epoch, [0, 1, 2, 3, 4]);
    assert.deepEqual(Object.keys(h.history).sort(), ['accuracy', 'loss', 'val_accuracy', 'val_loss']);
    assert.ok(h.history['loss']![4]! < h.history['loss']![0]!);
    assert.ok(h.history['val_accuracy']![4]! > 0.9, `val accuracy ${h.history['val_accuracy']}`);
    const { loss, accuracy } = await m.evaluate(x, y);
    assert.ok(accuracy! > 0.9 && loss! < 0.5, `accuracy ${accuracy}, loss ${loss}`);
    const p = m.predict(x, { batchSize: 100 });
    assert.deepEqual(p.shape, [600, 3]);
  });

  it('the same seed gives the identical loss curve', async () => {
    const a = await classifier().fit(x, y, { epochs: 3, batchSize: 50, seed: 7, verbose: 0 });
    const b = await classifier().fit(x, y, { epochs: 3, batchSize: 50, seed: 7, verbose: 0 });
    assert.deepEqual(a.history['loss'], b.history['loss']);
    const c = await classifier().fit(x, y, { epochs: 3, batchSize: 50, seed: 8, verbose: 0 });
    assert.notDeepEqual(a.history['loss'], c.history['loss']);
  });

  it('live tensors and bytes are the same after epoch 1 and epoch 10, with no tidy by the user', async () => {
    const m = classifier();
    // the third figure: tensors fit dropped for the GC to free instead of disposing them
    const seen: [number, number, number][] = [];
    await m.fit(x, y, {
      epochs: 10, batchSize: 64, validationSplit: 0.1, verbose: 0,
      callbacks: [{ onEpochEnd: async () => { const mem = await settledMemory(); seen.push([mem.numTensors, mem.numBytes, mem.numCollected]); } }],
    });
    assert.deepEqual(seen[9], seen[0]);
    const before = tsr.memory();
    m.predict(x).dispose();
    await m.evaluate(x, y);
    assert.equal(tsr.memory().numTensors, before.numTensors);
  });

  it('trains from a Dataset of [x, y] batches', async () => {
    const m = classifier();
    const ds = tsr.data.Dataset.fromTensors([x, y]).shuffle(600, 1).batch(32).prefetch(2);
    const h = await m.fit(ds, undefined, { epochs: 3, verbose: 0 });
    assert.ok(h.history['accuracy']![2]! > 0.85, `accuracy ${h.history['accuracy']}`);
  });

  it('EarlyStopping stops and restores the best weights; LearningRateScheduler and CSVLogger', async () => {
    const m = classifier();
    const stop = tsr.callbacks.earlyStopping({ monitor: 'loss', patience: 0, minDelta: 10, restoreBestWeights: true });
    const lrs: number[] = [];
    const dir = await mkdtemp(join(tmpdir(), 'tessera-'));
    const csv = join(dir, 'log.csv');
    const h = await m.fit(x, y, {
      epochs: 6, verbose: 0,
      callbacks: [stop, tsr.callbacks.learningRateScheduler((e) => 0.01 / (e + 1)), tsr.callbacks.csvLogger(csv), { onEpochBegin: () => { lrs.push(m.optimizer!.learningRate); } }],
    });
    assert.equal(h.epoch.length, 2, 'no epoch improves by 10, so training stops after the patience');
    assert.equal(stop.stoppedEpoch, 1);
    assert.deepEqual(lrs, [0.01, 0.005]);
    const lines = (await readFile(csv, 'utf8')).trim().split('\n');
    assert.equal(lines[0], 'epoch,loss,accuracy');
    assert.equal(lines.length, 3);
  });

  it('user callbacks see batches and epochs', async () => {
    const m = classifier();
    let batches = 0, epochs = 0;
    await m.fit(x, y, { epochs: 2, batchSize: 100, verbose: 0, callbacks: [{ onBatchEnd: (_b, logs) => { batches++; assert.ok('loss' in logs); }, onEpochEnd: () => { epochs++; } }] });
    assert.equal(batches, 12);
    assert.equal(epochs, 2);
  });

  it('yieldEvery hands the thread to the event loop and calls onYield with the logs so far, as TF.js', async () => {
    const m = classifier();
    const seen: [number, number, number][] = [];
    // a macrotask that queues itself again: it runs once per turn of the event loop
    let ticks = 0, ticker: ReturnType<typeof setImmediate> | undefined;
    const tick = () => { ticks++; ticker = setImmediate(tick); };
    tick();
    try {
      await m.fit(x, y, { epochs: 2, batchSize: 100, verbose: 0, yieldEvery: 'batch', callbacks: { onYield: (epoch, batch, logs) => { seen.push([epoch, batch, logs['loss']!]); } } });
    } finally {
      clearImmediate(ticker);
    }
    // 6 batches per epoch, then each epoch's end; the event loop turned at each
    assert.deepEqual(seen.map(([e, b]) => [e, b]), [0, 1].flatMap((e) => [...Array.from({ length: 6 }, (_, b) => [e, b]), [e, 5]]));
    assert.ok(seen.every(([, , loss]) => Number.isFinite(loss) && loss > 0));
    assert.ok(ticks >= seen.length, `${ticks} turns of the event loop for ${seen.length} yields`);
    let calls = 0;
    await m.fit(x, y, { epochs: 2, batchSize: 100, verbose: 0, yieldEvery: 'epoch', callbacks: { onYield: () => { calls++; } } });
    assert.equal(calls, 2);
    calls = 0;
    // Node's default is 'never'; a long interval yields only at epochs' ends
    await m.fit(x, y, { epochs: 1, batchSize: 100, verbose: 0, callbacks: { onYield: () => { calls++; } } });
    await m.fit(x, y, { epochs: 1, batchSize: 100, verbose: 0, yieldEvery: 60_000, callbacks: { onYield: () => { calls++; } } });
    assert.equal(calls, 1);
    await assert.rejects(m.fit(x, y, { yieldEvery: 'sometimes' as 'auto' }), /fit: yieldEvery must be one of 'auto', 'batch', 'epoch', 'never'/);
    await assert.rejects(m.fit(x, y, { yieldEvery: -5 }), /fit: yieldEvery must be/);
  });

  it('other optimizers, losses and metrics train through compile by name', async () => {
    tsr.setSeed(2);
    const m = tsr.sequential([tsr.layers.dense({ units: 8, activation: 'tanh', inputShape: [2] }), tsr.layers.dense({ units: 1, activation: 'sigmoid' })]);
    m.compile({ optimizer: 'rmsprop', loss: 'binaryCrossentropy', metrics: ['accuracy', 'precision', 'recall'] });
    const yb = tsr.cast(tsr.equal(y, 0), 'float32').reshape([-1, 1]);
    const h = await m.fit(x, yb, { epochs: 12, verbose: 0 });
    assert.ok(h.history['accuracy']![11]! > 0.9, `binary accuracy ${h.history['accuracy']}`);
    assert.ok(h.history['precision']![11]! > 0.8 && h.history['recall']![11]! > 0.8);
    const r = tsr.sequential([tsr.layers.dense({ units: 1, inputShape: [2] })]);
    r.compile({ optimizer: tsr.optimizers.sgd({ learningRate: 0.05, momentum: 0.9 }), loss: 'mse' });
    const target = tsr.tidy(() => tsr.matmul(x, tsr.tensor([[1], [-2]])).add(0.5));
    const hr = await r.fit(x, target, { epochs: 5, verbose: 0 });
    assert.ok(hr.history['loss']![4]! < 0.01, `regression loss ${hr.history['loss']}`);
  });

  it('bad input is a clear error', async () => {
    const m = classifier();
    await assert.rejects(m.fit(x, tsr.zeros([5], { dtype: 'int32' }), { verbose: 0 }), /fit: x has 600 samples \(shape \[600, 2\]\) but y has 5/);
    await assert.rejects(m.fit(tsr.zeros([4, 3]), tsr.zeros([4], { dtype: 'int32' }), { verbose: 0 }), /fit: the model expects inputs of shape \[batch, 2\], got \[4, 3\]/);
    await assert.rejects(m.fit(x, tsr.add(y, 5), { verbose: 0 }), /fit: label \d+ at position \d+ is out of range for a model with 3 outputs/);
    assert.throws(() => m.compile({ optimizer: 'adam', loss: 'nope' }), /compile: unknown loss 'nope'/);
    const nan = classifier();
    nan.compile({ optimizer: tsr.optimizers.sgd({ learningRate: 1e30 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }) });
    await assert.rejects(nan.fit(x, y, { epochs: 3, verbose: 0 }), /fit: the loss became (NaN|Infinity) at epoch \d+, batch \d+: a gradient became non-finite at epoch \d+, batch \d+/);
  });

  it('summary lists layers, output shapes and parameter counts like Keras', () => {
    const m = tsr.sequential([
      tsr.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1] }),
      tsr.layers.batchNormalization(),
      tsr.layers.maxPooling2d(),
      tsr.layers.flatten(),
      tsr.layers.dropout({ rate: 0.5 }),
      tsr.layers.dense({ units: 2 }),
    ]);
    const lines: string[] = [];
    m.summary((l) => lines.push(l));
    const text = lines.join('\n');
    assert.match(text, /conv2d_\d+ \(Conv2D\)\s+\(None, 6, 6, 4\)\s+40/);
    assert.match(text, /batch_normalization_\d+ \(BatchNormalization\)\s+\(None, 6, 6, 4\)\s+16/);
    assert.match(text, /max_pooling2d_\d+ \(MaxPooling2D\)\s+\(None, 3, 3, 4\)\s+0/);
    assert.match(text, /dense_\d+ \(Dense\)\s+\(None, 2\)\s+74/);
    assert.match(text, /Total params: 130\nTrainable params: 122\nNon-trainable params: 8/);
  });
});
