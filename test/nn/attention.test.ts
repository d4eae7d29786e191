// multiHeadAttention and positionalEmbedding: output shapes, a float64 reference forward
// (masks and the causal option included), central-difference gradients on every device, a
// save/load round trip, and the errors of wrong shapes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { checkGradsByDifferences, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;
const tessera = (pattern: RegExp) => (e: unknown) => e instanceof Error && pattern.test(e.message);

type F64 = Float64Array;
const f64 = async (t: tsr.Tensor): Promise<F64> => Float64Array.from(await t.data());

/**
 * Keras's MultiHeadAttention in float64, loop by loop: projections per head, softmax of scaled
 * scores (masked where mask is 0, and after the diagonal when causal), then the output projection.
 */
function referenceAttention(
  q: F64, v: F64, k: F64, mask: F64 | null, causal: boolean,
  dims: { B: number; Tq: number; Tk: number; Dq: number; Dv: number; Dk: number; H: number; dk: number; dv: number; O: number },
  w: Record<string, F64>,
): number[] {
  const { B, Tq, Tk, Dq, Dv, Dk, H, dk, dv, O } = dims;
  const proj = (x: F64, D: number, T: number, kernel: F64, bias: F64, b: number, t: number, h: number, d: number, dim: number) => {
    let s = bias[h * dim + d]!;
    for (let f = 0; f < D; f++) s += x[(b * T + t) * D + f]! * kernel[(f * H + h) * dim + d]!;
    return s;
  };
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      const ctx = new Float64Array(H * dv);
      for (let h = 0; h < H; h++) {
        const scores: number[] = [];
        for (let j = 0; j < Tk; j++) {
          let s = 0;
          for (let d = 0; d < dk; d++) s += proj(q, Dq, Tq, w['queryKernel']!, w['queryBias']!, b, i, h, d, dk) * proj(k, Dk, Tk, w['keyKernel']!, w['keyBias']!, b, j, h, d, dk);
          s /= Math.sqrt(dk);
          if (mask && mask[(b * Tq + i) * Tk + j] === 0) s = -Infinity;
          if (causal && j > i) s = -Infinity;
          scores.push(s);
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m)), z = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j < Tk; j++) for (let d = 0; d < dv; d++) ctx[h * dv + d]! += (e[j]! / z) * proj(v, Dv, Tk, w['valueKernel']!, w['valueBias']!, b, j, h, d, dv);
      }
      for (let o = 0; o < O; o++) {
        let s = w['outputBias']![o]!;
        for (let c = 0; c < H * dv; c++) s += ctx[c]! * w['outputKernel']![c * O + o]!;
        out.push(s);
      }
    }
  }
  return out;
}

const weightsOf = async (layer: tsr.nn.Layer) => Object.fromEntries(await Promise.all(layer.namedTensors().map(async ([n, t]) => [n.split('.').at(-1)!, await f64(t)] as const)));

for (const device of testDevices()) {
  describe(`multiHeadAttention on ${device}`, () => {
    const cases = [
      { name: 'self-attention', cross: false, masked: false, causal: false },
      { name: 'cross-attention with a separate key and a mask', cross: true, masked: true, causal: false },
      { name: 'causal self-attention', cross: false, masked: false, causal: true },
    ];
    for (const c of cases) {
      it(`${c.name}: output shape, a float64 reference and central-difference gradients`, async () => {
        const B = 2, Tq = 3, Tk = c.cross ? 4 : 3, Dq = 5, Dv = c.cross ? 3 : 5, Dk = c.cross ? 2 : 5, H = 2, dk = 3, dv = 2, O = c.cross ? 4 : 5;
        tsr.setSeed(21);
        const layer = L.multiHeadAttention({ numHeads: H, keyDim: dk, valueDim: dv, useCausalMask: c.causal, ...(c.cross ? { outputShape: O } : {}), biasInitializer: 'glorotUniform' });
        const query = tsr.randn([B, Tq, Dq], { seed: 1, device }).requireGrad();
        const value = c.cross ? tsr.randn([B, Tk, Dv], { seed: 2, device }).requireGrad() : query;
        const key = c.cross ? tsr.randn([B, Tk, Dk], { seed: 3, device }).requireGrad() : query;
        const maskValues = Float32Array.from({ length: B * Tq * Tk }, (_, i) => (i % 3 === 1 ? 0 : 1));
        const mask = c.masked ? tsr.tensor(maskValues, { shape: [B, Tq, Tk], device }) : null;
        const inputs = c.cross ? [query, value, key, ...(mask ? [mask] : [])] : [query];
        const y = c.cross ? layer.apply(inputs) : layer.apply(query);
        const symbolic = layer.apply(c.cross ? [tsr.input({ shape: [Tq, Dq] }), tsr.input({ shape: [Tk, Dv] }), tsr.input({ shape: [Tk, Dk] }), tsr.input({ shape: [Tq, Tk] })] : [tsr.input({ shape: [Tq, Dq] })]);
        assert.deepEqual(y.shape, [B, Tq, O]);
        assert.deepEqual(symbolic.sampleShape, [Tq, O], 'the symbolic call predicts the shape');
        const w = await weightsOf(layer);
        assert.deepEqual(layer.namedTensors().map(([, t]) => t.shape), [[Dq, H, dk], [H, dk], [Dk, H, dk], [H, dk], [Dv, H, dv], [H, dv], [H, dv, O], [O]]);
        const want = referenceAttention(await f64(query), await f64(value), await f64(key), mask ? Float64Array.from(maskValues) : null, c.causal, { B, Tq, Tk, Dq, Dv, Dk, H, dk, dv, O }, w);
        const got = await y.data();
        want.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-4 + 1e-4 * Math.abs(v), `[${i}] ${got[i]} vs float64 ${v}`));
        const weights = tsr.randn(y.shape, { seed: 9, device });
        const loss = () => tsr.sum(tsr.mul(c.cross ? layer.apply(inputs) : layer.apply(query), weights));
        const targets: [string, tsr.Tensor][] = [['query', query], ...layer.namedTensors().map(([n, t]) => [n, t] as [string, tsr.Tensor])];
        if (c.cross) targets.push(['value', value], ['key', key]);
        await checkGradsByDifferences(c.name, loss, targets, { samples: 6 });
      });
    }
  });

  describe(`positionalEmbedding on ${device}`, () => {
    it('adds a learned vector per position; shorter sequences take the first positions; gradients by differences', async () => {
      tsr.setSeed(3);
      const layer = L.positionalEmbedding({ sequenceLength: 6 });
      const x = tsr.randn([2, 4, 3], { seed: 5, device }).requireGrad();
      const y = layer.apply(x);
      assert.deepEqual(y.shape, [2, 4, 3]);
      layer.ensureBuilt([4, 3]);
      const e = await f64(layer.namedTensors()[0]![1]);
      const xs = await f64(x), got = await y.data();
      for (let i = 0; i < xs.length; i++) assert.ok(Math.abs(got[i]! - (xs[i]! + e[i % 12]!)) < 1e-6);
      const w = tsr.randn([2, 4, 3], { seed: 6, device });
      await checkGradsByDifferences('positionalEmbedding', () => tsr.sum(tsr.mul(layer.apply(x), w)), [['x', x], ['embeddings', layer.namedTensors()[0]![1]]]);
      assert.throws(() => layer.apply(tsr.zeros([1, 7, 3], { device })), tessera(/sequences of 7 positions are longer than sequenceLength 6/));
    });
  });
}

describe('attention layers in models', () => {
  it('a Transformer block saves and loads (dropout seed included) and predicts the same', async () => {
    tsr.setSeed(8);
    const x = tsr.input({ shape: [6, 8] });
    const h = L.positionalEmbedding({ sequenceLength: 6 }).apply(x);
    const a = L.multiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 0.1 }).apply([h, h]);
    const n = L.layerNormalization().apply(L.add().apply([h, a]));
    const out = L.dense({ units: 3 }).apply(L.globalAveragePooling1d().apply(n));
    const m = tsr.model({ inputs: x, outputs: out });
    m.compile({ optimizer: 'adam', loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }) });
    const xs = tsr.randn([16, 6, 8], { seed: 1 }), ys = tsr.tensor(Int32Array.from({ length: 16 }, (_, i) => i % 3), { shape: [16] });
    await m.fit(xs, ys, { epochs: 1, batchSize: 8, verbose: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'tessera-attention-'));
    await m.save(dir, { includeOptimizer: true });
    const back = (await tsr.loadModel(dir)) as tsr.Functional;
    assert.deepEqual(await (back.predict(xs) as tsr.Tensor).data(), await (m.predict(xs) as tsr.Tensor).data());
    // training continues identically: the dropout masks of the next epoch are the same
    await m.fit(xs, ys, { epochs: 1, batchSize: 8, verbose: 0, shuffle: false });
    await back.fit(xs, ys, { epochs: 1, batchSize: 8, verbose: 0, shuffle: false });
    assert.deepEqual(await (back.predict(xs) as tsr.Tensor).data(), await (m.predict(xs) as tsr.Tensor).data());
  });

  it('in a sequential model it attends to itself', async () => {
    const m = tsr.sequential([L.multiHeadAttention({ numHeads: 2, keyDim: 3, inputShape: [4, 6] }), L.flatten(), L.dense({ units: 2 })]);
    assert.deepEqual(m.predict(tsr.randn([3, 4, 6], { seed: 2 })).shape, [3, 2]);
  });

  it('wrong shapes are clear errors naming the layer', () => {
    const mha = L.multiHeadAttention({ numHeads: 2, keyDim: 3, name: 'mha' });
    assert.throws(() => mha.apply(tsr.zeros([2, 5])), tessera(/^mha: query must be \[batch, time, features\], got per-sample shape \[5\]/));
    assert.throws(() => mha.apply([tsr.zeros([2, 3, 4]), tsr.zeros([2, 5, 4]), tsr.zeros([2, 6, 4])]), tessera(/^mha: key and value must have the same length/));
    assert.throws(() => mha.apply([tsr.zeros([2, 3, 4]), tsr.zeros([2, 5, 4]), tsr.zeros([2, 5, 4]), tsr.zeros([2, 3, 4])]), tessera(/^mha: the mask must be \[batch, 3, 5\] \(query time, key time\), got \[batch, 3, 4\]/));
    assert.throws(() => L.multiHeadAttention({ numHeads: 0, keyDim: 3 }), tessera(/numHeads must be an integer >= 1, got 0/));
    assert.throws(() => L.multiHeadAttention({ numHeads: 2, keyDim: 3, useCausalMask: true }).apply([tsr.zeros([1, 3, 4]), tsr.zeros([1, 5, 4])]), tessera(/a causal mask needs query and key of one length, got 3 and 5/));
  });
});
