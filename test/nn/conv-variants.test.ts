// depthwiseConv2d, separableConv2d and conv2dTranspose: output shapes, float64 references written
// as loops over the window, central-difference gradients on every device, and save/load.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { checkGradsByDifferences, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;
type F64 = Float64Array;
const f64 = async (t: tsr.Tensor): Promise<F64> => Float64Array.from(await t.data());
const weight = (layer: tsr.Layer, name: string) => layer.namedTensors().find(([n]) => n.endsWith(`.${name}`))![1];

/** TF's 'same' padding before the first element of an axis. */
const padBefore = (n: number, k: number, s: number, d: number, padding: string) =>
  padding === 'same' ? Math.floor(Math.max((Math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0) / 2) : 0;

interface Geometry { B: number; H: number; W: number; C: number; kh: number; kw: number; s: number; d: number; padding: 'valid' | 'same' }

/** out[b, y, x, c*M + m] = sum over the window of x[.., c] k[.., c, m]. */
function depthwiseRef(x: F64, k: F64, M: number, g: Geometry): { out: number[]; shape: number[] } {
  const { B, H, W, C, kh, kw, s, d, padding } = g;
  const oh = padding === 'same' ? Math.ceil(H / s) : Math.floor((H - (kh - 1) * d - 1) / s) + 1;
  const ow = padding === 'same' ? Math.ceil(W / s) : Math.floor((W - (kw - 1) * d - 1) / s) + 1;
  const pt = padBefore(H, kh, s, d, padding), pl = padBefore(W, kw, s, d, padding);
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let y = 0; y < oh; y++) for (let xo = 0; xo < ow; xo++) for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) {
    let sum = 0;
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const iy = y * s + i * d - pt, ix = xo * s + j * d - pl;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) sum += x[((b * H + iy) * W + ix) * C + c]! * k[((i * kw + j) * C + c) * M + m]!;
    }
    out.push(sum);
  }
  return { out, shape: [B, oh, ow, C * M] };
}

/** Each input pixel adds x * k over its window of the output (the adjoint of the convolution from the output). */
function transposeRef(x: F64, k: F64, F: number, g: Geometry): { out: number[]; shape: number[] } {
  const { B, H, W, C, kh, kw, s, d, padding } = g;
  const OH = padding === 'same' ? H * s : (H - 1) * s + (kh - 1) * d + 1, OW = padding === 'same' ? W * s : (W - 1) * s + (kw - 1) * d + 1;
  const pt = padBefore(OH, kh, s, d, padding), pl = padBefore(OW, kw, s, d, padding);
  const out = new Array<number>(B * OH * OW * F).fill(0);
  for (let b = 0; b < B; b++) for (let iy = 0; iy < H; iy++) for (let ix = 0; ix < W; ix++) for (let ci = 0; ci < C; ci++) {
    const v = x[((b * H + iy) * W + ix) * C + ci]!;
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const oy = iy * s + i * d - pt, ox = ix * s + j * d - pl;
      if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
      for (let f = 0; f < F; f++) out[((b * OH + oy) * OW + ox) * F + f]! += v * k[((i * kw + j) * F + f) * C + ci]!;
    }
  }
  return { out, shape: [B, OH, OW, F] };
}

const close = (got: ArrayLike<number>, want: readonly number[], what: string) =>
  want.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < 1e-4 + 1e-4 * Math.abs(v), `${what} [${i}]: ${got[i]} vs float64 ${v}`));

const GEOMETRIES: Geometry[] = [
  { B: 2, H: 5, W: 6, C: 3, kh: 3, kw: 2, s: 1, d: 1, padding: 'same' },
  { B: 1, H: 7, W: 5, C: 2, kh: 3, kw: 3, s: 2, d: 1, padding: 'valid' },
  { B: 1, H: 6, W: 6, C: 2, kh: 2, kw: 3, s: 2, d: 1, padding: 'same' },
];

for (const device of testDevices()) {
  describe(`depthwise, separable and transposed convolutions on ${device}`, () => {
    for (const g of GEOMETRIES) {
      const tag = `${g.kh}x${g.kw} stride ${g.s} ${g.padding} on ${g.H}x${g.W}x${g.C}`;
      it(`depthwiseConv2d (depthMultiplier 2) and separableConv2d, ${tag}: float64 references and central differences`, async () => {
        tsr.setSeed(4);
        const x = tsr.randn([g.B, g.H, g.W, g.C], { seed: 1, device }).requireGrad();
        const dw = L.depthwiseConv2d({ kernelSize: [g.kh, g.kw], strides: g.s, padding: g.padding, depthMultiplier: 2, biasInitializer: 'glorotUniform' });
        const y = dw.apply(x);
        const ref = depthwiseRef(await f64(x), await f64(weight(dw, 'depthwise_kernel')), 2, g);
        assert.deepEqual(y.shape, ref.shape);
        assert.deepEqual(dw.computeOutputShape(x.shape.slice(1)), ref.shape.slice(1));
        const bias = await f64(weight(dw, 'bias'));
        close(await y.data(), ref.out.map((v, i) => v + bias[i % (2 * g.C)]!), 'depthwise');
        const sep = L.separableConv2d({ filters: 4, kernelSize: [g.kh, g.kw], strides: g.s, padding: g.padding, activation: 'tanh' });
        const z = sep.apply(x);
        const inner = depthwiseRef(await f64(x), await f64(weight(sep, 'depthwise_kernel')), 1, g);
        const p = await f64(weight(sep, 'pointwise_kernel'));
        const pixels = inner.out.length / g.C;
        const want = Array.from({ length: pixels * 4 }, (_, i) => {
          const px = Math.floor(i / 4), f = i % 4;
          let sum = 0;
          for (let c = 0; c < g.C; c++) sum += inner.out[px * g.C + c]! * p[c * 4 + f]!;
          return Math.tanh(sum);
        });
        assert.deepEqual(z.shape, [...inner.shape.slice(0, 3), 4]);
        close(await z.data(), want, 'separable');
        const w1 = tsr.randn(y.shape, { seed: 7, device }), w2 = tsr.randn(z.shape, { seed: 8, device });
        await checkGradsByDifferences(`depthwise ${tag}`, () => tsr.sum(tsr.mul(dw.apply(x), w1)), [['x', x], ['kernel', weight(dw, 'depthwise_kernel')], ['bias', weight(dw, 'bias')]], { samples: 8 });
        await checkGradsByDifferences(`separable ${tag}`, () => tsr.sum(tsr.mul(sep.apply(x), w2)), [['x', x], ['depthwise', weight(sep, 'depthwise_kernel')], ['pointwise', weight(sep, 'pointwise_kernel')]], { samples: 8 });
      });

      it(`conv2dTranspose, ${tag}: a float64 reference and central differences`, async () => {
        tsr.setSeed(5);
        const x = tsr.randn([g.B, g.H, g.W, g.C], { seed: 2, device }).requireGrad();
        const layer = L.conv2dTranspose({ filters: 3, kernelSize: [g.kh, g.kw], strides: g.s, padding: g.padding, biasInitializer: 'glorotUniform' });
        const y = layer.apply(x);
        const ref = transposeRef(await f64(x), await f64(weight(layer, 'kernel')), 3, g);
        assert.deepEqual(y.shape, ref.shape);
        assert.deepEqual(layer.computeOutputShape(x.shape.slice(1)), ref.shape.slice(1));
        const bias = await f64(weight(layer, 'bias'));
        close(await y.data(), ref.out.map((v, i) => v + bias[i % 3]!), 'conv2dTranspose');
        const w = tsr.randn(y.shape, { seed: 9, device });
        await checkGradsByDifferences(`conv2dTranspose ${tag}`, () => tsr.sum(tsr.mul(layer.apply(x), w)), [['x', x], ['kernel', weight(layer, 'kernel')], ['bias', weight(layer, 'bias')]], { samples: 8 });
      });
    }
  });
}

describe('convolution variants in models', () => {
  it('an encoder-decoder of the three trains, saves and loads to the same predictions', async () => {
    tsr.setSeed(6);
    const m = tsr.sequential([
      L.separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }),
      L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, depthwiseRegularizer: { l2: 1e-4 } }),
      L.conv2dTranspose({ filters: 1, kernelSize: 3, strides: 2, padding: 'same', activation: 'sigmoid' }),
    ]);
    assert.deepEqual(m.computeOutputShape([8, 8, 1]), [8, 8, 1]);
    const x = tsr.rand([16, 8, 8, 1], { seed: 3 });
    m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.01 }), loss: 'mse' });
    const h = await m.fit(x, x, { epochs: 8, batchSize: 8, verbose: 0 });
    assert.ok(h.history['loss']!.at(-1)! < h.history['loss']![0]!, `the reconstruction loss falls: ${h.history['loss']}`);
    const dir = mkdtempSync(join(tmpdir(), 'tessera-conv-variants-'));
    await m.save(dir);
    const back = await tsr.loadModel(dir);
    assert.deepEqual(await (back.predict(x) as tsr.Tensor).data(), await m.predict(x).data());
  });

  it('bad arguments name the layer', () => {
    assert.throws(() => L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 0 }), /depthwise_conv2d_\d+: depthMultiplier must be an integer >= 1, got 0/);
    assert.throws(() => L.conv2dTranspose({ filters: 2, kernelSize: 3, padding: 'full' as never }), /conv2d_transpose_\d+: padding must be one of 'valid', 'same', got 'full'/);
    assert.throws(() => L.separableConv2d({ filters: 2, kernelSize: 3 }).apply(tsr.zeros([1, 5, 5])), /separable_conv2d_\d+: expects per-sample input \[height, width, channels\], got \[5, 5\]/);
  });
});
