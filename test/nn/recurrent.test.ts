// SimpleRNN, LSTM and GRU: float64 references of each cell, finite-difference gradients,
// PyTorch's own layers with the same weights, save/load, on every device of the suite.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { checkGradsByDifferences, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const sig = (v: number) => 1 / (1 + Math.exp(-v));
type Kind = 'simpleRNN' | 'lstm' | 'gru';

/** The layer's output in float64 from its weights: x [B][T][F] -> [B][T or 1][U]. */
function reference(kind: Kind, x: number[][][], w: { kernel: number[][]; rec: number[][]; bias: number[] | number[][] }, units: number, seq: boolean, backwards: boolean): number[][][] {
  const dot = (v: number[], m: number[][], col: number) => v.reduce((s, vi, i) => s + vi * m[i]![col]!, 0);
  return x.map((sample) => {
    let h = new Array<number>(units).fill(0), c = new Array<number>(units).fill(0);
    const outs: number[][] = [];
    const steps = backwards ? [...sample].reverse() : sample;
    for (const xt of steps) {
      const zx = (g: number, u: number) => dot(xt, w.kernel, g * units + u);
      const zh = (g: number, u: number) => dot(h, w.rec, g * units + u);
      if (kind === 'simpleRNN') h = h.map((_, u) => Math.tanh(zx(0, u) + zh(0, u) + (w.bias as number[])[u]!));
      else if (kind === 'lstm') {
        const b = w.bias as number[];
        const z = (g: number, u: number) => zx(g, u) + zh(g, u) + b[g * units + u]!;
        c = c.map((cu, u) => sig(z(1, u)) * cu + sig(z(0, u)) * Math.tanh(z(2, u)));
        h = h.map((_, u) => sig(z(3, u)) * Math.tanh(c[u]!));
      } else {
        const [bx, bh] = w.bias as number[][];
        const a = (g: number, u: number) => zx(g, u) + bx![g * units + u]!, r = (g: number, u: number) => zh(g, u) + bh![g * units + u]!;
        h = h.map((hu, u) => { const z = sig(a(0, u) + r(0, u)), rr = sig(a(1, u) + r(1, u)); return z * hu + (1 - z) * Math.tanh(a(2, u) + rr * r(2, u)); });
      }
      outs.push([...h]);
    }
    return seq ? outs : [outs.at(-1)!];
  });
}

function make(kind: Kind, units: number, opts: { returnSequences?: boolean; goBackwards?: boolean } = {}): tsr.nn.Layer {
  return tsr.layers[kind]({ units, ...opts });
}

async function weightsOf(layer: tsr.nn.Layer): Promise<{ kernel: number[][]; rec: number[][]; bias: number[] | number[][] }> {
  const [k, r, b] = layer.namedTensors().map(([, t]) => t);
  return { kernel: (await k!.array()) as number[][], rec: (await r!.array()) as number[][], bias: (await b!.array()) as number[] };
}

for (const device of testDevices()) {
  describe(`recurrent layers on ${device}`, () => {
    for (const kind of ['simpleRNN', 'lstm', 'gru'] as const) {
      it(`${kind}: the output sequence, the last output and a backwards read match a float64 reference`, async () => {
        for (const [seq, backwards] of [[true, false], [false, false], [true, true]] as const) {
          tsr.setSeed(3);
          const layer = make(kind, 5, { returnSequences: seq, goBackwards: backwards });
          const x = tsr.randn([2, 4, 3], { seed: 9, device });
          const y = layer.apply(x);
          assert.deepEqual(y.shape, seq ? [2, 4, 5] : [2, 5]);
          // a bias off zero, so the reference checks where it enters
          if (layer.isBuilt) layer.setWeights(layer.getWeights().map((w, i) => (i === 2 ? w.add(tsr.rand(w.shape, { seed: 4, device, lo: -0.5, hi: 0.5 })) : w)));
          const want = reference(kind, (await x.array()) as number[][][], await weightsOf(layer), 5, seq, backwards);
          const got = (await layer.apply(x).array()) as number[][][] | number[][];
          const flatWant = want.flat(2), flatGot = (seq ? got : (got as number[][]).map((r) => [r])).flat(2) as number[];
          flatWant.forEach((w, i) => assert.ok(Math.abs(w - flatGot[i]!) < 1e-5, `${kind} seq=${seq} backwards=${backwards} [${i}]: ${flatGot[i]} vs ${w}`));
        }
      });

      it(`${kind}: gradients of the input and every weight agree with central differences`, async () => {
        tsr.setSeed(5);
        const layer = make(kind, 3, { returnSequences: true });
        const x = tsr.randn([2, 3, 2], { seed: 6, device });
        const r = tsr.randn([2, 3, 3], { seed: 7, device });
        layer.apply(x).dispose();
        x.requireGrad();
        await checkGradsByDifferences(kind, () => layer.apply(x).mul(r).sum(), [['input', x], ...layer.namedTensors()], { atol: 2e-3 });
      });
    }

    it('an LSTM learns a sequence task, compiled as eagerly, and saves and loads', async () => {
      // does the sequence sum to more than zero?
      const n = 64, x = tsr.randn([n, 6, 2], { seed: 1, device: 'cpu' });
      const y = tsr.tidy(() => x.sum([1, 2]).greater(0).cast('int32'));
      const run = async (jit: boolean) => {
        tsr.setSeed(8);
        const m = tsr.sequential([tsr.layers.lstm({ units: 8, inputShape: [6, 2] }), tsr.layers.dense({ units: 2 })]);
        m.to(device);
        m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.02 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'], jit });
        const h = await m.fit(x, y, { epochs: 25, batchSize: 16, verbose: 0, seed: 1 });
        return { m, h };
      };
      const eager = await run(false), compiled = await run(true);
      assert.ok(compiled.h.history['accuracy']!.at(-1)! >= 0.9, `accuracy ${compiled.h.history['accuracy']!.at(-1)}`);
      const losses = [compiled.h.history['loss']!, eager.h.history['loss']!];
      losses[0]!.forEach((l, i) => assert.ok(device === 'cpu' ? l === losses[1]![i] : Math.abs(l - losses[1]![i]!) < 1e-4, `epoch ${i + 1}: ${l} vs ${losses[1]![i]}`));
      const dir = join(mkdtempSync(join(tmpdir(), 'tessera-lstm-')), 'm');
      await compiled.m.save(dir);
      const back = await tsr.loadModel(dir);
      back.to(device);
      const a = await compiled.m.predict(x).data(), b = await (back.predict(x) as tsr.Tensor).data();
      assert.deepEqual(Array.from(b), Array.from(a));
      eager.m.dispose(); compiled.m.dispose(); back.dispose();
    });
  });
}

const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
describe('recurrent layers against PyTorch', { skip: torch ? false : 'python3-torch is not installed' }, () => {
  it("LSTM and GRU give torch.nn.LSTM's and torch.nn.GRU's outputs for the same weights", async () => {
    for (const kind of ['lstm', 'gru'] as const) {
      tsr.setSeed(11);
      const layer = make(kind, 4, { returnSequences: true });
      const x = tsr.randn([3, 5, 2], { seed: 12 });
      const ours = (await layer.apply(x).array()) as number[][][];
      const w = await weightsOf(layer);
      // PyTorch keeps [gates * units, features]; its GRU orders the gates r, z, n where Keras has z, r, h
      const script = `
import json, sys, torch
d = json.loads(sys.stdin.read())
k, r, b, x = (torch.tensor(d[n], dtype=torch.float64) for n in ('kernel', 'rec', 'bias', 'x'))
U = ${4}
if '${kind}' == 'lstm':
    m = torch.nn.LSTM(2, U, batch_first=True).double()
    m.weight_ih_l0.data = k.T.clone(); m.weight_hh_l0.data = r.T.clone(); m.bias_ih_l0.data = b.clone(); m.bias_hh_l0.data.zero_()
else:
    order = lambda t: torch.cat([t[..., U:2*U], t[..., :U], t[..., 2*U:]], -1)
    m = torch.nn.GRU(2, U, batch_first=True).double()
    m.weight_ih_l0.data = order(k).T.clone(); m.weight_hh_l0.data = order(r).T.clone(); m.bias_ih_l0.data = order(b[0]).clone(); m.bias_hh_l0.data = order(b[1]).clone()
print(json.dumps(m(x)[0].tolist()))`;
      const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify({ ...w, x: await x.array() }), encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
      assert.equal(r.status, 0, r.stderr);
      const theirs = JSON.parse(r.stdout) as number[][][];
      theirs.flat(2).forEach((v, i) => assert.ok(Math.abs(v - ours.flat(2)[i]!) < 1e-5, `${kind} [${i}]: ${ours.flat(2)[i]} vs PyTorch ${v}`));
    }
  });
});
