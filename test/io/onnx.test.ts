// ONNX export, checked by running the exported file in onnxruntime-node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import * as tsr from '../../src/index.js';

const L = tsr.layers;

/** Trains briefly (so batch-norm statistics move), exports, runs in onnxruntime, compares. */
async function exportAndCompare(model: tsr.Sequential): Promise<number> {
  const x = tsr.randn([5, ...model.inputShape!], { seed: 3 });
  model.compile({ optimizer: 'adam', loss: 'mse' });
  const target = tsr.randn(model.predict(x).shape, { seed: 4 });
  await model.fit(x, target, { epochs: 2, batchSize: 5, verbose: 0 });
  const want = await model.predict(x).data();
  const path = join(await mkdtemp(join(tmpdir(), 'tessera-onnx-')), 'model.onnx');
  await model.exportOnnx(path);
  const session = await ort.InferenceSession.create(path);
  assert.deepEqual(session.inputNames, ['input']);
  const out = (await session.run({ input: new ort.Tensor('float32', (await x.data()) as Float32Array, x.shape) }))['output']!;
  assert.deepEqual(out.dims, model.predict(x).shape);
  const got = out.data as Float32Array;
  return Math.max(...Array.from(want, (w, i) => Math.abs(w - got[i]!)));
}

describe('exportOnnx', () => {
  it('an MLP with every activation, batch and layer normalization and dropout matches onnxruntime', async () => {
    tsr.setSeed(1);
    const m = tsr.sequential([
      L.flatten({ inputShape: [6, 5] }), L.dense({ units: 16, activation: 'gelu' }), L.batchNormalization(), L.dropout({ rate: 0.3 }),
      L.dense({ units: 12, activation: 'silu' }), L.layerNormalization(), L.dense({ units: 10, activation: 'elu' }), L.activation({ activation: 'leakyRelu' }),
      L.dense({ units: 8, activation: 'softplus' }), L.dense({ units: 6, activation: 'sigmoid' }), L.dense({ units: 5, activation: 'tanh', useBias: false }),
      L.dense({ units: 4, activation: 'relu' }), L.activation({ activation: 'softmax' }),
    ]);
    const err = await exportAndCompare(m);
    assert.ok(err <= 1e-4, `max abs diff ${err}`);
  });

  it('the Keras activations added later, a softmax output and the Softmax and LeakyReLU layers match onnxruntime', async () => {
    tsr.setSeed(4);
    const m = tsr.sequential([
      L.dense({ units: 12, activation: 'relu6', inputShape: [7] }), L.dense({ units: 12, activation: 'selu' }), L.dense({ units: 10, activation: 'mish' }),
      L.dense({ units: 10, activation: 'hardSigmoid' }), L.dense({ units: 9, activation: 'softsign' }), L.dense({ units: 9, activation: 'swish' }),
      L.dense({ units: 8, activation: 'exponential' }), L.leakyReLU({ alpha: 0.1 }), L.dense({ units: 6 }), L.softmax(), L.dense({ units: 4, activation: 'softmax' }),
    ]);
    const err = await exportAndCompare(m);
    assert.ok(err <= 1e-4, `max abs diff ${err}`);
  });

  it('the reshaping, global pooling and 1-D layers match onnxruntime', async () => {
    tsr.setSeed(5);
    const m = tsr.sequential([
      L.zeroPadding2d({ padding: [[1, 0], [2, 1]], inputShape: [6, 5, 2] }), L.cropping2d({ cropping: [[1, 1], [0, 2]] }), L.upSampling2d({ size: [2, 3] }),
      L.conv2d({ filters: 3, kernelSize: 3 }), L.globalMaxPooling2d(), L.repeatVector({ n: 6 }),
      L.conv1d({ filters: 4, kernelSize: 2, padding: 'causal', dilationRate: 2, activation: 'relu' }), L.maxPooling1d({ poolSize: 2 }),
      L.averagePooling1d({ poolSize: 2, strides: 1 }), L.permute({ dims: [2, 1] }), L.conv1d({ filters: 2, kernelSize: 3, padding: 'same', strides: 2 }),
      L.globalMaxPooling1d(), L.repeatVector({ n: 2 }), L.prelu({ alphaInitializer: 'glorotUniform' }), L.globalAveragePooling1d(), L.dense({ units: 3 }),
    ]);
    const err = await exportAndCompare(m);
    assert.ok(err <= 1e-4, `max abs diff ${err}`);
  });

  it('a CNN with same/valid padding, strides, dilation, groups, pooling and reshape matches onnxruntime', async () => {
    tsr.setSeed(2);
    const m = tsr.sequential([
      L.reshape({ targetShape: [9, 11, 2], inputShape: [198] }),
      L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }), L.batchNormalization(),
      L.maxPooling2d({ poolSize: 2, padding: 'same' }),
      L.conv2d({ filters: 4, kernelSize: [2, 3], strides: 2, groups: 2, activation: 'tanh' }),
      L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }),
      L.conv2d({ filters: 4, kernelSize: 2, dilationRate: 2, padding: 'same' }),
      L.flatten(), L.dense({ units: 3 }),
    ]);
    const err = await exportAndCompare(m);
    assert.ok(err <= 1e-4, `max abs diff ${err}`);
  });

  it('the Fashion-MNIST CNN of the main job, and global average pooling, match onnxruntime', async () => {
    const { buildModel } = await import('../../src/train/fashion-models.js');
    tsr.setSeed(3);
    assert.ok(await exportAndCompare(buildModel('cnn') as tsr.Sequential) <= 1e-4);
    const gap = tsr.sequential([L.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 3] }), L.globalAveragePooling2d(), L.dense({ units: 2 })]);
    assert.ok(await exportAndCompare(gap) <= 1e-4);
  });

  it('depthwise, separable and transposed convolutions (same and valid, kernels smaller than the stride) match onnxruntime', async () => {
    tsr.setSeed(9);
    const m = tsr.sequential([
      L.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, activation: 'relu', inputShape: [7, 6, 2] }),
      L.separableConv2d({ filters: 3, kernelSize: [2, 3], strides: 2, padding: 'same' }),
      L.conv2dTranspose({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }),
      L.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2 }),
      L.conv2dTranspose({ filters: 2, kernelSize: 1, strides: 2, padding: 'same' }),
      L.depthwiseConv2d({ kernelSize: 2, strides: 2, useBias: false }),
      L.flatten(), L.dense({ units: 3 }),
    ]);
    const err = await exportAndCompare(m);
    assert.ok(err <= 1e-4, `max abs diff ${err}`);
  });

  it('custom layers and unbuilt models are clear errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-onnx-'));
    class Twice extends tsr.Layer {
      computeOutputShape(s: readonly number[]): number[] { return [...s]; }
      forward(x: tsr.Tensor): tsr.Tensor { return x.mul(2); }
    }
    const custom = tsr.sequential([L.dense({ units: 2, inputShape: [3] }), new Twice('twice')]);
    await assert.rejects(custom.exportOnnx(join(dir, 'c.onnx')), /exportOnnx: twice_\d+ \(Twice\) is not a built-in layer, so it has no ONNX mapping; exportable: Dense, /);
    await assert.rejects(tsr.sequential([L.dense({ units: 2 })]).exportOnnx(join(dir, 'u.onnx')), /needs a known input shape/);
    const elu = tsr.sequential([L.lstm({ units: 2, activation: 'elu', inputShape: [3, 2] })]);
    await assert.rejects(elu.exportOnnx(join(dir, 'l.onnx')), /lstm_\d+: activation 'elu' has no ONNX LSTM mapping \(sigmoid, tanh, relu have\)/);
  });
});

/** Exports a functional model and runs it in onnxruntime on `xs` (by input name); the largest difference over its outputs. */
async function compareFunctional(model: tsr.Functional, xs: tsr.Tensor[]): Promise<number> {
  const want = model.predict(xs);
  const wants = Array.isArray(want) ? want : [want];
  const path = join(await mkdtemp(join(tmpdir(), 'tessera-onnx-')), 'model.onnx');
  await model.exportOnnx(path);
  const session = await ort.InferenceSession.create(path);
  assert.deepEqual(session.inputNames, model.inputNames);
  assert.deepEqual(session.outputNames, model.outputNames);
  const feeds = Object.fromEntries(await Promise.all(xs.map(async (x, i) => [model.inputNames[i]!, new ort.Tensor(x.dtype === 'int32' ? 'int32' : 'float32', (await x.data()) as Float32Array, x.shape)] as const)));
  const got = await session.run(feeds);
  let worst = 0;
  for (let o = 0; o < wants.length; o++) {
    const out = got[model.outputNames[o]!]!;
    assert.deepEqual(out.dims, wants[o]!.shape, `output ${model.outputNames[o]}`);
    const w = await wants[o]!.data(), d = out.data as Float32Array;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i]! - d[i]!));
  }
  return worst;
}

describe('exportOnnx of functional models and sequence layers', () => {
  it('two inputs and two outputs through a shared layer and every merge layer match onnxruntime', async () => {
    tsr.setSeed(6);
    const a = tsr.input({ shape: [5], name: 'a' }), b = tsr.input({ shape: [5], name: 'b' });
    const shared = L.dense({ units: 4, activation: 'tanh' });
    const ha = shared.apply(a), hb = shared.apply(b);
    const merged = L.concatenate().apply([L.add().apply([ha, hb]), L.subtract().apply([ha, hb]), L.multiply().apply([ha, hb]), L.average().apply([ha, hb]), L.maximum().apply([ha, hb]), L.minimum().apply([ha, hb])]);
    const dots = L.concatenate().apply([L.dot({ axes: 1 }).apply([ha, hb]), L.dot({ axes: -1, normalize: true }).apply([ha, hb])]);
    const seqA = L.reshape({ targetShape: [2, 2] }).apply(ha), seqB = L.reshape({ targetShape: [2, 2] }).apply(hb);
    const matrix = L.flatten().apply(L.dot({ axes: [1, 1] }).apply([seqA, seqB]));
    const m = tsr.model({ inputs: [a, b], outputs: [L.dense({ units: 3, name: 'scores' }).apply(merged), L.concatenate({ name: 'products' }).apply([dots, matrix])] });
    const err = await compareFunctional(m, [tsr.randn([4, 5], { seed: 1 }), tsr.randn([4, 5], { seed: 2 })]);
    assert.ok(err <= 1e-4, `max abs diff ${err}`);
  });

  it('SimpleRNN, LSTM and GRU (sequences, last outputs, read backwards), bidirectional and timeDistributed match ONNX\'s RNN, LSTM and GRU', async () => {
    tsr.setSeed(7);
    const x = tsr.input({ shape: [6, 3] });
    const outs = [
      L.simpleRNN({ units: 4, returnSequences: true }).apply(x),
      L.lstm({ units: 4, returnSequences: true, goBackwards: true, biasInitializer: 'glorotUniform' }).apply(x),
      L.gru({ units: 4, returnSequences: true, biasInitializer: 'glorotUniform' }).apply(x),
      L.bidirectional({ layer: L.lstm({ units: 3, returnSequences: true }) }).apply(x),
      L.bidirectional({ layer: L.gru({ units: 4, returnSequences: true }), mergeMode: 'ave' }).apply(x),
      L.timeDistributed({ layer: L.dense({ units: 4, activation: 'relu' }) }).apply(x),
    ];
    const seq = L.concatenate().apply(outs);
    const last = L.concatenate().apply([L.lstm({ units: 5 }).apply(seq), L.gru({ units: 3, goBackwards: true }).apply(seq), L.bidirectional({ layer: L.simpleRNN({ units: 2 }), mergeMode: 'sum' }).apply(seq)]);
    const m = tsr.model({ inputs: x, outputs: [seq, last] });
    const err = await compareFunctional(m, [tsr.randn([3, 6, 3], { seed: 3 })]);
    assert.ok(err <= 1e-4, `max abs diff ${err}`);
  });

  it('the Transformer of tessera train, attention with a mask, a causal one, and embeddings match onnxruntime', async () => {
    const { buildModel } = await import('../../src/train/fashion-models.js');
    tsr.setSeed(8);
    assert.ok(await compareFunctional(buildModel('transformer') as tsr.Functional, [tsr.rand([3, 28, 28], { seed: 4 })]) <= 1e-4);
    const q = tsr.input({ shape: [4, 6], name: 'q' }), kv = tsr.input({ shape: [5, 3], name: 'kv' }), mask = tsr.input({ shape: [4, 5], name: 'mask' });
    const cross = L.multiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 2, outputShape: 5 }).apply([q, kv, kv, mask]);
    const causal = L.multiHeadAttention({ numHeads: 3, keyDim: 2, useCausalMask: true, useBias: false }).apply(q);
    const m = tsr.model({ inputs: [q, kv, mask], outputs: [cross, causal] });
    const maskValues = tsr.tensor(Float32Array.from({ length: 2 * 20 }, (_, i) => (i % 4 === 2 ? 0 : 1)), { shape: [2, 4, 5] });
    assert.ok(await compareFunctional(m, [tsr.randn([2, 4, 6], { seed: 5 }), tsr.randn([2, 5, 3], { seed: 6 }), maskValues]) <= 1e-4);
    const ids = tsr.input({ shape: [7], dtype: 'int32', name: 'ids' });
    const text = tsr.model({ inputs: ids, outputs: L.dense({ units: 2 }).apply(L.globalAveragePooling1d().apply(L.positionalEmbedding({ sequenceLength: 9 }).apply(L.embedding({ inputDim: 20, outputDim: 4 }).apply(ids)))) });
    assert.ok(await compareFunctional(text, [tsr.randint(0, 20, [3, 7], { seed: 7 })]) <= 1e-4);
  });
});
