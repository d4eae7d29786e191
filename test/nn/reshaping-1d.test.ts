// The reshaping layers, the 1-D layers and PReLU: output shapes, float64 references, central-difference
// gradients (of the input, and of every weight), and a save/load round trip, on every device.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { checkGradsByDifferences, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;
/** Row-major index of `idx` in `shape`. */
const at = (shape: readonly number[], idx: readonly number[]) => idx.reduce((a, v, i) => a * shape[i]! + v, 0);
/** Every index of `shape`, in row-major order. */
function* indices(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  for (let f = 0; f < n; f++) {
    const idx: number[] = [];
    let r = f;
    for (let d = shape.length - 1; d >= 0; d--) { idx.unshift(r % shape[d]!); r = Math.floor(r / shape[d]!); }
    yield idx;
  }
}
const build = (shape: readonly number[], f: (idx: number[]) => number) => Array.from(indices(shape), f);

type Case = {
  name: string; layer: () => tsr.nn.Layer; input: number[]; output: number[];
  /** out[idx] from the input x (flat, row-major) and the layer's weights (flat) */
  ref: (x: Float64Array, idx: number[], w: Float64Array[]) => number;
};

/** Window taps of a 1-D convolution: input step for output step t, tap k (negative or past the end: padding). */
function tap(n: number, out: number, k: number, size: number, stride: number, padding: 'valid' | 'same' | 'causal', dilation: number, t: number): number {
  const total = padding === 'same' ? Math.max((out - 1) * stride + (size - 1) * dilation + 1 - n, 0) : padding === 'causal' ? (size - 1) * dilation : 0;
  const before = padding === 'same' ? Math.floor(total / 2) : total;
  return t * stride + k * dilation - before;
}

const CASES: Case[] = [
  { name: 'zeroPadding2d', layer: () => L.zeroPadding2d({ padding: [[1, 0], [2, 1]] }), input: [3, 2, 2], output: [4, 5, 2],
    ref: (x, [b, i, j, c]) => (i! - 1 >= 0 && i! - 1 < 3 && j! - 2 >= 0 && j! - 2 < 2 ? x[at([2, 3, 2, 2], [b!, i! - 1, j! - 2, c!])]! : 0) },
  { name: 'cropping2d', layer: () => L.cropping2d({ cropping: [[1, 0], [0, 2]] }), input: [4, 5, 2], output: [3, 3, 2],
    ref: (x, [b, i, j, c]) => x[at([2, 4, 5, 2], [b!, i! + 1, j!, c!])]! },
  { name: 'upSampling2d', layer: () => L.upSampling2d({ size: [2, 3] }), input: [2, 2, 3], output: [4, 6, 3],
    ref: (x, [b, i, j, c]) => x[at([2, 2, 2, 3], [b!, Math.floor(i! / 2), Math.floor(j! / 3), c!])]! },
  { name: 'permute', layer: () => L.permute({ dims: [2, 1] }), input: [3, 4], output: [4, 3],
    ref: (x, [b, i, j]) => x[at([2, 3, 4], [b!, j!, i!])]! },
  { name: 'repeatVector', layer: () => L.repeatVector({ n: 3 }), input: [4], output: [3, 4],
    ref: (x, [b, , f]) => x[at([2, 4], [b!, f!])]! },
  ...(['valid', 'same', 'causal'] as const).map((padding): Case => {
    const out = padding === 'valid' ? 5 : padding === 'same' ? 4 : 7;
    const stride = padding === 'same' ? 2 : 1, dilation = padding === 'causal' ? 2 : 1;
    return {
      name: `conv1d ${padding}`, layer: () => L.conv1d({ filters: 2, kernelSize: 3, padding, strides: stride, dilationRate: dilation, activation: 'tanh' }), input: [7, 3], output: [out, 2],
      ref: (x, [b, t, f], [k, bias]) => {
        let s = bias![f!]!;
        for (let kk = 0; kk < 3; kk++) {
          const src = tap(7, out, kk, 3, stride, padding, dilation, t!);
          if (src < 0 || src >= 7) continue;
          for (let c = 0; c < 3; c++) s += x[at([2, 7, 3], [b!, src, c])]! * k![at([3, 3, 2], [kk, c, f!])]!;
        }
        return Math.tanh(s);
      },
    };
  }),
  { name: 'prelu', layer: () => L.prelu({ sharedAxes: [1] }), input: [3, 4], output: [3, 4],
    ref: (x, [b, t, f], [alpha]) => { const v = x[at([2, 3, 4], [b!, t!, f!])]!; return v > 0 ? v : alpha![f!]! * v; } },
  { name: 'maxPooling1d', layer: () => L.maxPooling1d({ poolSize: 2 }), input: [5, 3], output: [2, 3],
    ref: (x, [b, t, c]) => Math.max(x[at([2, 5, 3], [b!, 2 * t!, c!])]!, x[at([2, 5, 3], [b!, 2 * t! + 1, c!])]!) },
  { name: 'averagePooling1d', layer: () => L.averagePooling1d({ poolSize: 3, strides: 2 }), input: [7, 2], output: [3, 2],
    ref: (x, [b, t, c]) => [0, 1, 2].reduce((s, k) => s + x[at([2, 7, 2], [b!, 2 * t! + k, c!])]!, 0) / 3 },
  { name: 'globalMaxPooling1d', layer: () => L.globalMaxPooling1d(), input: [5, 3], output: [3],
    ref: (x, [b, c]) => Math.max(...[0, 1, 2, 3, 4].map((t) => x[at([2, 5, 3], [b!, t, c!])]!)) },
  { name: 'globalAveragePooling1d', layer: () => L.globalAveragePooling1d(), input: [5, 3], output: [3],
    ref: (x, [b, c]) => [0, 1, 2, 3, 4].reduce((s, t) => s + x[at([2, 5, 3], [b!, t, c!])]!, 0) / 5 },
  { name: 'globalMaxPooling2d', layer: () => L.globalMaxPooling2d(), input: [2, 3, 2], output: [2],
    ref: (x, [b, c]) => Math.max(...build([2, 3], ([i, j]) => x[at([2, 2, 3, 2], [b!, i!, j!, c!])]!)) },
];

for (const device of testDevices()) {
  describe(`reshaping and 1-D layers on ${device}`, () => {
    for (const c of CASES) {
      it(`${c.name}: shape, float64 reference, gradients, save and load`, async () => {
        tsr.setSeed(2);
        const layer = c.layer();
        const x = tsr.randn([2, ...c.input], { seed: 3, device });
        layer.apply(x).dispose();
        // weights away from their initial values (PReLU's alphas start at 0), so the reference sees them
        layer.setWeights(layer.getWeights().map((w, i) => tsr.rand(w.shape, { seed: 20 + i, device, lo: -0.5, hi: 0.5 })));
        const y = layer.apply(x);
        assert.deepEqual(y.shape, [2, ...c.output]);
        assert.deepEqual(layer.computeOutputShape(c.input), c.output);
        const xs = Float64Array.from(await x.data());
        const ws = await Promise.all(layer.namedTensors().map(async ([, t]) => Float64Array.from(await t.data())));
        const want = build([2, ...c.output], (idx) => c.ref(xs, idx, ws));
        const got = await y.data();
        want.forEach((w, i) => assert.ok(Math.abs(w - got[i]!) < 1e-5, `${c.name}[${i}]: ${got[i]} vs ${w}`));

        // gradients of sum(y * r) against central differences, for the input and every weight
        const r = tsr.randn(y.shape, { seed: 4, device });
        x.requireGrad();
        await checkGradsByDifferences(c.name, () => layer.apply(x).mul(r).sum(), [['input', x], ...layer.namedTensors()], { samples: 12 });

        const m = tsr.sequential([layer]);
        const before = await m.apply(x.detach()).data();
        const dir = join(mkdtempSync(join(tmpdir(), 'tessera-layers-')), 'm');
        await m.save(dir);
        const back = await tsr.loadModel(dir);
        back.to(device);
        assert.deepEqual(Array.from(await back.apply(x.detach()).data()), Array.from(before));
      });
    }

    it('misuse is named: the wrong rank, cropping everything, bad dims', () => {
      assert.throws(() => L.conv1d({ filters: 2, kernelSize: 3 }).apply(tsr.zeros([1, 4, 4, 1], { device })), /conv1d_\d+: expects per-sample input \[steps, channels\], got \[4, 4, 1\]/);
      assert.throws(() => L.cropping2d({ cropping: 2 }).apply(tsr.zeros([1, 4, 4, 1], { device })), /cropping2d_\d+: cropping .* leaves nothing of a 4x4 image/);
      assert.throws(() => L.permute({ dims: [1, 3] }), /permute_\d+: dims must order 1\.\.n, got \[1,3\]/);
      assert.throws(() => L.zeroPadding2d({ padding: -1 as unknown as number }), /zero_padding2d_\d+: expected a non-negative integer/);
    });
  });
}
