// Hostile input at the training surface: every option is checked before work starts, NaN is
// caught and blamed precisely, failures free what they made, weights move between models.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';

function classifier(units = 8): tsr.Sequential {
  tsr.setSeed(1);
  const m = tsr.sequential([tsr.layers.dense({ units, activation: 'relu', inputShape: [4] }), tsr.layers.dense({ units: 3 })]);
  m.compile({ optimizer: 'adam', loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
  return m;
}

const tessera = (pattern: RegExp) => (e: unknown) => e instanceof tsr.TesseraError && pattern.test(e.message);

describe('hostile input to fit, evaluate and predict', () => {
  const x = tsr.randn([40, 4], { seed: 3 }), y = tsr.randint(0, 3, [40], { seed: 4 });

  it('batch sizes that are not positive integers are refused at once (they used to hang or give wrong rows)', async () => {
    const m = classifier();
    for (const batchSize of [0, -1, 2.5, 0.5, NaN, Infinity, '8' as unknown as number]) {
      assert.throws(() => m.predict(x, { batchSize }), tessera(/^predict: batchSize must be an integer >= 1, got /), String(batchSize));
      await assert.rejects(m.evaluate(x, y, { batchSize }), tessera(/^evaluate: batchSize must be an integer >= 1, got /));
      await assert.rejects(m.fit(x, y, { batchSize, verbose: 0 }), tessera(/^fit: batchSize must be an integer >= 1, got /));
    }
    assert.throws(() => m.predict(x, { batchsize: 8 } as never), tessera(/^predict: unknown option 'batchsize' \(expected batchSize\)/));
    assert.deepEqual(m.predict(x, { batchSize: 7 }).shape, [40, 3]);
    assert.deepEqual(m.predict(tsr.zeros([0, 4])).shape, [0, 3], 'zero rows give an empty result, not a concat error');
  });

  it('fit options are checked for type and range before any step', async () => {
    const m = classifier();
    const cases: [tsr.FitOptions, RegExp][] = [
      [{ epochs: -1 }, /^fit: epochs must be an integer >= 0, got -1/],
      [{ epochs: 1.5 }, /^fit: epochs must be an integer >= 0, got 1\.5/],
      [{ verbose: 7 as 0 }, /^fit: verbose must be one of 0, 1, 2, got 7/],
      [{ shuffle: 'yes' as unknown as boolean }, /^fit: shuffle must be true or false, got 'yes'/],
      [{ validationSplit: 1 }, /^fit: validationSplit must be a finite number >= 0 and < 1, got 1/],
      [{ seed: -3 }, /^fit: seed must be an integer >= 0, got -3/],
      [{ epoch: 3 } as never, /^fit: unknown option 'epoch' \(expected epochs, batchSize/],
      [{ callbacks: ['log'] as never }, /^fit: callbacks must be a callback object or a list of them, got an array/],
      [{ validationData: [x] as never }, /^fit: validationData must be \[x, y\] tensors/],
    ];
    const steps: number[] = [];
    for (const [opts, pattern] of cases) {
      await assert.rejects(m.fit(x, y, { verbose: 0, callbacks: [{ onBatchEnd: (b) => { steps.push(b); } }], ...opts }), tessera(pattern), JSON.stringify(opts));
    }
    assert.deepEqual(steps, [], 'no case trained a single batch');
  });

  it('callback outputs (csvLogger, modelCheckpoint) that cannot be written fail before the first step', async () => {
    const m = classifier();
    const dir = await mkdtemp(join(tmpdir(), 'tessera-cb-'));
    await writeFile(join(dir, 'file'), 'x');
    const steps: number[] = [];
    const counting = { onBatchEnd: (b: number) => { steps.push(b); } };
    await assert.rejects(m.fit(x, y, { verbose: 0, callbacks: [counting, tsr.callbacks.csvLogger(join(dir, 'missing', 'log.csv'))] }), tessera(/^csvLogger: .*missing\/log\.csv: cannot write \(ENOENT\)/));
    await assert.rejects(m.fit(x, y, { verbose: 0, callbacks: [counting, tsr.callbacks.csvLogger(join(dir, 'missing', 'log.csv'), true)] }), tessera(/^csvLogger: .*cannot write \(ENOENT\)/));
    await assert.rejects(m.fit(x, y, { verbose: 0, callbacks: [counting, tsr.callbacks.modelCheckpoint({ dir: join(dir, 'file', 'ckpt-{epoch}') })] }), tessera(/^modelCheckpoint: dir .*file\/ckpt-1: .*file is not a folder/));
    assert.deepEqual(steps, []);
  });

  it('a failing fit frees its slices: the live count is what a successful fit leaves', async () => {
    const ok = classifier();
    await ok.fit(x, y, { epochs: 1, verbose: 0, validationSplit: 0.25 });
    const m = classifier();
    const before = tsr.memory().numTensors;
    await assert.rejects(m.fit(x, y, { epochs: 2, verbose: 0, validationSplit: 0.25, callbacks: [{ onEpochEnd() { throw new Error('callback failed'); } }] }), /callback failed/);
    // a finished fit leaves only the optimizer's moments (two per weight) behind
    assert.equal(tsr.memory().numTensors - before, 2 * m.parameters().length);
  });

  it('a NaN in the inputs stops fit at its batch, naming the inputs (relu no longer hides it)', async () => {
    const m = classifier();
    const data = await x.data();
    const bad = Float32Array.from(data, (v, i) => (i === 4 * 17 + 2 ? NaN : v));
    await assert.rejects(m.fit(tsr.tensor(bad, { shape: [40, 4] }), y, { verbose: 0, batchSize: 8, shuffle: false }),
      tessera(/^fit: the loss became NaN at epoch 1, batch 3: that batch's inputs hold NaN\/Infinity; training stopped/));
  });

  it('weights loaded with a NaN in them stop fit at the first batch, blaming the weights', async () => {
    const m = classifier();
    m.predict(x.slice([[0, 1]])).dispose();
    const [name, w] = m.namedTensors()[0]!;
    const values = await w.data();
    values[3] = NaN;
    w.backend.write(w.storageView.storage, values);
    await assert.rejects(m.fit(x, y, { verbose: 0 }), tessera(new RegExp(`^fit: the loss became NaN at epoch 1, batch 1: the inputs are finite, so the weights were non-finite before training .*${name.replace('.', '\\.')}`)));
  });

  it('a gradient that overflows is blamed on its batch; weights NaN after the last step are caught at the epoch end', async () => {
    const m = classifier();
    m.compile({ optimizer: tsr.optimizers.sgd({ learningRate: 1e38 }), loss: 'mse' });
    const target = tsr.randn([40, 3], { seed: 5 });
    await assert.rejects(m.fit(x, target, { verbose: 0, batchSize: 8, epochs: 3 }), tessera(/^fit: (the loss became (NaN|Infinity) at epoch \d+, batch \d+: a gradient became non-finite at epoch \d+, batch \d+|a gradient became non-finite during epoch \d+)/));
    // one batch per epoch: the only place to notice the blown-up weights is the epoch's end
    const one = classifier();
    one.compile({ optimizer: tsr.optimizers.sgd({ learningRate: 1e38 }), loss: 'mse' });
    await assert.rejects(one.fit(x, target.mul(1e18), { verbose: 0, batchSize: 40, epochs: 1 }), tessera(/^fit: a gradient became non-finite during epoch 1: .* now hold NaN\/Infinity/));
  });
});

describe('hostile input to creation ops, optimizers and schedules', () => {
  it('creation ops check dtypes, shapes and values', () => {
    assert.throws(() => tsr.zeros([2], { dtype: 'nope' as tsr.DType }), tessera(/^zeros: unknown dtype 'nope'/));
    assert.throws(() => tsr.zeros(5 as never), tessera(/^zeros: a shape must be an array of dimensions, got 5/));
    assert.throws(() => tsr.randn([2], { dtype: 'int32' }), tessera(/^randn: dtype 'int32' is not supported here \(expected float32 or float16 or bfloat16\)/));
    assert.throws(() => tsr.rand([2], { hi: NaN }), tessera(/^rand: hi must be a finite number, got NaN/));
    assert.throws(() => tsr.tensor([3e9], { dtype: 'int32' }), tessera(/^tensor: value 3000000000 at position 0 does not fit int32/));
    assert.throws(() => tsr.tensor([1, NaN], { dtype: 'int32' }), tessera(/^tensor: value NaN at position 1 does not fit int32/));
    assert.throws(() => tsr.full([2], 2.5, { dtype: 'int32' }), tessera(/^full: value 2\.5 is not an int32 integer/));
    assert.throws(() => tsr.zeros([2], { devise: 'cpu' } as never), tessera(/^zeros: unknown option 'devise'/));
    assert.deepEqual([...tsr.tensor([0, 2, -1], { dtype: 'bool' }).dataSync()], [0, 1, 1], 'bool is v != 0');
    assert.equal(tsr.randn([3], { seed: 1, dtype: 'bfloat16' }).dtype, 'bfloat16');
  });

  it('optimizers and schedules check every option', () => {
    assert.throws(() => tsr.optimizers.adam({ learningRate: 'abc' as unknown as number }), tessera(/^adam: learningRate must be a non-negative number or a schedule function, got 'abc'/));
    assert.throws(() => tsr.optimizers.adam({ beta1: 5 }), tessera(/^adam: beta1 must be a finite number >= 0 and < 1, got 5/));
    assert.throws(() => tsr.optimizers.adam({ learningrate: 1 } as never), tessera(/^adam: unknown option 'learningrate'/));
    assert.throws(() => tsr.optimizers.sgd({ nesterov: true }), tessera(/^sgd: nesterov needs a momentum above 0/));
    assert.throws(() => tsr.optimizers.rmsprop({ rho: -0.1 }), tessera(/^rmsprop: rho must be a finite number >= 0 and < 1/));
    assert.throws(() => tsr.optimizers.adam({ clipNorm: 0 }), tessera(/^adam: clipNorm must be a finite number > 0, got 0/));
    assert.throws(() => tsr.optimizers.stepDecay(0.1, 0), tessera(/^stepDecay: stepSize must be an integer >= 1, got 0/));
    const opt = tsr.optimizers.adam({ learningRate: () => NaN });
    assert.throws(() => opt.learningRate, tessera(/^optimizer: the learning-rate schedule gave NaN at step 0/));
  });
});

describe('hostile input to layers', () => {
  it('a misspelt or unknown layer argument is an error naming the layer and what it takes', () => {
    assert.throws(() => tsr.layers.dense({ units: 3, activaton: 'relu' } as never), tessera(/^dense: unknown option 'activaton' \(expected name, inputShape, trainable, units, activation/));
    assert.throws(() => tsr.layers.conv2d({ filters: 3, kernelSize: 3, stride: 2 } as never), tessera(/^conv2d: unknown option 'stride'/));
    assert.throws(() => tsr.layers.dense({ units: 3, trainable: 'no' as never }), tessera(/trainable must be true or false, got 'no'/));
    assert.throws(() => tsr.layers.dense({ units: 3, inputShape: [0, 2] }), tessera(/inputShape \[0, 2\] has a zero dimension/));
    assert.throws(() => tsr.layers.flatten(5 as never), tessera(/^flatten: layer arguments must be an object, got 5/));
    assert.throws(() => tsr.layers.dense({ units: 2.5 }), tessera(/^dense: units must be a positive integer, got 2\.5/));
  });
});

describe('weights by structure', () => {
  it('two models of one architecture built in one process exchange weights whatever their names', async () => {
    const a = classifier(), b = classifier();
    a.predict(tsr.zeros([1, 4])).dispose();
    b.predict(tsr.zeros([1, 4])).dispose();
    assert.notEqual(a.namedTensors()[0]![0], b.namedTensors()[0]![0], 'the counter named them differently');
    const file = join(await mkdtemp(join(tmpdir(), 'tessera-struct-')), 'w.safetensors');
    await a.saveWeights(file);
    await b.loadWeights(file);
    for (let i = 0; i < a.namedTensors().length; i++) assert.deepEqual([...await b.namedTensors()[i]![1].data()], [...await a.namedTensors()[i]![1].data()]);
    const wider = classifier(9);
    wider.predict(tsr.zeros([1, 4])).dispose();
    await assert.rejects(wider.loadWeights(file), tessera(/^loadWeights: .*w\.safetensors does not match the model: dense_\d+\.kernel float32 \[4, 8\] in the file for dense_\d+\.kernel float32 \[4, 9\].*\n  file: .*\n  model: /));
  });
});
