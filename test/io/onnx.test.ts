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

  it('layers without an ONNX mapping and unbuilt models are clear errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-onnx-'));
    const emb = tsr.sequential([L.embedding({ inputDim: 10, outputDim: 4, inputShape: [3] })]);
    await assert.rejects(emb.exportOnnx(join(dir, 'e.onnx')), /exportOnnx: embedding_\d+ \(Embedding\) has no ONNX mapping/);
    await assert.rejects(tsr.sequential([L.dense({ units: 2 })]).exportOnnx(join(dir, 'u.onnx')), /needs a known input shape/);
  });
});
