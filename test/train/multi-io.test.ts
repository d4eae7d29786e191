// fit, evaluate and predict on a functional model of two inputs and two outputs with a shared
// layer: per-output losses and lossWeights, data as lists and keyed by name, every step's losses
// against PyTorch's for the same weights and batches, saving and loading, and the errors.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;
const tessera = (pattern: RegExp) => (e: unknown) => e instanceof Error && pattern.test(e.message);

/** a, b -> shared tanh dense on each -> cls (3 classes from the concatenation) and reg (1 value from the sum) */
function twoByTwo(): tsr.Functional {
  tsr.setSeed(5);
  const a = tsr.input({ shape: [5], name: 'a' }), b = tsr.input({ shape: [5], name: 'b' });
  const shared = L.dense({ units: 8, activation: 'tanh', name: 'shared' });
  const ha = shared.apply(a), hb = shared.apply(b);
  const cls = L.dense({ units: 3, name: 'cls' }).apply(L.concatenate().apply([ha, hb]));
  const reg = L.dense({ units: 1, name: 'reg' }).apply(L.add().apply([ha, hb]));
  return tsr.model({ inputs: [a, b], outputs: [cls, reg] });
}

function compileTwo(m: tsr.Functional): void {
  m.compile({
    optimizer: tsr.optimizers.adam({ learningRate: 0.01 }),
    loss: { cls: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), reg: 'meanSquaredError' },
    lossWeights: { reg: 0.5 },
    metrics: { cls: ['accuracy'] },
    jit: true,
  });
}

/** 64 samples: the class is the sign pattern of two sums, the value a smooth function of both inputs. */
function data(n = 64): { a: tsr.Tensor; b: tsr.Tensor; cls: tsr.Tensor; reg: tsr.Tensor } {
  const a = tsr.randn([n, 5], { seed: 1 }), b = tsr.randn([n, 5], { seed: 2 });
  const av = a.dataSync(), bv = b.dataSync();
  const labels = new Int32Array(n), values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const sa = av[5 * i]! + av[5 * i + 1]!, sb = bv[5 * i + 2]! - bv[5 * i + 3]!;
    labels[i] = sa > 0 ? (sb > 0 ? 2 : 1) : 0;
    values[i] = Math.tanh(sa) * 0.5 + sb * 0.25;
  }
  return { a, b, cls: tsr.tensor(labels, { shape: [n] }), reg: tsr.tensor(values, { shape: [n, 1] }) };
}

describe('a model of two inputs and two outputs', () => {
  it('trains with per-output losses and lossWeights; logs each output; data by list or by name agree', async () => {
    const d = data();
    const byList = twoByTwo(), byName = twoByTwo();
    compileTwo(byList);
    compileTwo(byName);
    const opts = { epochs: 3, batchSize: 16, shuffle: false, verbose: 0 } as const;
    const h1 = await byList.fit([d.a, d.b], [d.cls, d.reg], opts);
    const h2 = await byName.fit({ a: d.a, b: d.b }, { cls: d.cls, reg: d.reg }, opts);
    assert.deepEqual(Object.keys(h1.history).sort(), ['cls_accuracy', 'cls_loss', 'loss', 'reg_loss']);
    assert.deepEqual(h2.history, h1.history);
    h1.history['loss']!.forEach((total, e) => {
      const want = h1.history['cls_loss']![e]! + 0.5 * h1.history['reg_loss']![e]!;
      assert.ok(Math.abs(total - want) < 1e-5 * Math.abs(want), `epoch ${e}: loss ${total} is cls_loss + 0.5 reg_loss = ${want}`);
    });
    assert.ok(h1.history['loss']!.at(-1)! < h1.history['loss']![0]!, 'the total loss falls');

    const logs = await byList.evaluate({ b: d.b, a: d.a }, [d.cls, d.reg], { batchSize: 20 });
    assert.deepEqual(Object.keys(logs).sort(), ['cls_accuracy', 'cls_loss', 'loss', 'reg_loss']);
    const [logits, value] = byList.predict([d.a, d.b], { batchSize: 24 }) as tsr.Tensor[];
    assert.deepEqual(logits!.shape, [64, 3]);
    assert.deepEqual(value!.shape, [64, 1]);
    // evaluate's per-output losses are those of predict's outputs
    const mse = ((await value!.data()) as Float32Array).reduce((s, v, i) => s + (v - d.reg.dataSync()[i]!) ** 2, 0) / 64;
    assert.ok(Math.abs(logs['reg_loss']! - mse) < 1e-5, `reg_loss ${logs['reg_loss']} is the mean squared error of predict, ${mse}`);
    assert.ok(Math.abs(logs['loss']! - (logs['cls_loss']! + 0.5 * logs['reg_loss']!)) < 1e-5);
  });

  it('the shared layer holds one set of weights; a frozen output head gets no update', async () => {
    const d = data();
    const m = twoByTwo();
    assert.deepEqual(m.namedTensors({ trainableOnly: true }).map(([n]) => n).filter((n) => n.startsWith('shared')), ['shared.kernel', 'shared.bias']);
    m.getLayer('reg').trainable = false;
    compileTwo(m);
    const before = await m.getLayer('reg').getWeights()[0]!.data();
    const sharedBefore = await m.getLayer('shared').getWeights()[0]!.data();
    await m.fit([d.a, d.b], [d.cls, d.reg], { epochs: 1, batchSize: 32, verbose: 0 });
    assert.deepEqual(await m.getLayer('reg').getWeights()[0]!.data(), before);
    assert.notDeepEqual(await m.getLayer('shared').getWeights()[0]!.data(), sharedBefore);
  });

  it('saves and loads with its training config, and resumes to the same weights as one run', async () => {
    const d = data();
    const whole = twoByTwo(), resumed = twoByTwo();
    compileTwo(whole);
    compileTwo(resumed);
    const opts = { batchSize: 16, shuffle: false, verbose: 0 } as const;
    await whole.fit([d.a, d.b], [d.cls, d.reg], { ...opts, epochs: 2 });
    await resumed.fit([d.a, d.b], [d.cls, d.reg], { ...opts, epochs: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'tessera-multi-io-'));
    await resumed.save(dir, { includeOptimizer: true });
    const loaded = (await tsr.loadModel(dir)) as tsr.Functional;
    assert.deepEqual(loaded.inputNames, ['a', 'b']);
    assert.deepEqual(loaded.outputNames, ['cls', 'reg']);
    assert.deepEqual(loaded.compiledWith.map((o) => [o.name, o.weight, o.metrics.map((x) => x.name)]), [['cls', 1, ['accuracy']], ['reg', 0.5, []]]);
    const h = await loaded.fit([d.a, d.b], [d.cls, d.reg], { ...opts, epochs: 2, initialEpoch: 1 });
    assert.deepEqual(Object.keys(h.history).sort(), ['cls_accuracy', 'cls_loss', 'loss', 'reg_loss']);
    const w1 = whole.getWeights(), w2 = loaded.getWeights();
    for (let i = 0; i < w1.length; i++) {
      const p = await w1[i]!.data(), q = await w2[i]!.data();
      p.forEach((v, k) => assert.ok(Math.abs(v - q[k]!) < 1e-6, `weight ${i}[${k}]: ${q[k]} after resuming, ${v} in one run`));
    }
  });

  it('a Dataset of [[a, b], { cls, reg }] elements trains like the tensors', async () => {
    const d = data(32);
    const fromTensors = twoByTwo(), fromDataset = twoByTwo();
    compileTwo(fromTensors);
    compileTwo(fromDataset);
    const h1 = await fromTensors.fit([d.a, d.b], [d.cls, d.reg], { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
    const ds = tsr.data.Dataset.fromTensors([d.a, d.b, d.cls, d.reg]).batch(16).map((e) => {
      const [a, b, cls, reg] = e as tsr.Tensor[];
      return { x: [a!, b!], y: { cls: cls!, reg: reg! } } as never;
    });
    const h2 = await fromDataset.fit(ds, undefined, { epochs: 1, verbose: 0 });
    for (const k of Object.keys(h1.history)) assert.ok(Math.abs(h1.history[k]![0]! - h2.history[k]![0]!) < 1e-6, `${k}: ${h2.history[k]} vs ${h1.history[k]}`);
  });

  it('wrong data is a clear error naming the inputs and outputs', async () => {
    const d = data(8);
    const m = twoByTwo();
    compileTwo(m);
    const fit = (x: unknown, y: unknown) => m.fit(x as never, y as never, { verbose: 0 });
    await assert.rejects(fit(d.a, [d.cls, d.reg]), tessera(/^fit: x is one tensor but the model has 2 inputs \(a, b\): pass a list or an object keyed by those names/));
    await assert.rejects(fit([d.a], [d.cls, d.reg]), tessera(/^fit: x holds 1 tensor but the model has 2 inputs \(a, b\)/));
    await assert.rejects(fit({ a: d.a, c: d.b }, [d.cls, d.reg]), tessera(/^fit: x names 'c', which is not an input of the model \(a, b\)/));
    await assert.rejects(fit({ a: d.a }, [d.cls, d.reg]), tessera(/^fit: x\['b'\] must be a Tensor, got undefined/));
    await assert.rejects(fit([d.a, d.b.slice([[0, 4]])], [d.cls, d.reg]), tessera(/^fit: x has 8 samples \(shape \[8, 5\]\) but x 'b' has 4 \(shape \[4, 5\]\)/));
    await assert.rejects(fit([d.a, tsr.zeros([8, 6])], [d.cls, d.reg]), tessera(/^fit: the model expects input 'b' of shape \[batch, 5\], got \[8, 6\]/));
    await assert.rejects(fit([d.a, d.b], [tsr.tensor(new Int32Array(8).fill(3), { shape: [8] }), d.reg]), tessera(/^fit: label 3 at position 0 of output 'cls' is out of range for a model with 3 outputs/));
    assert.throws(() => m.compile({ optimizer: 'adam', loss: ['mse'] }), tessera(/^compile: loss lists 1 values but the model has 2 outputs \(cls, reg\)/));
    assert.throws(() => m.compile({ optimizer: 'adam', loss: { cls: 'mse' } }), tessera(/^compile: loss has no entry for output 'reg' \(outputs: cls, reg\)/));
    assert.throws(() => m.compile({ optimizer: 'adam', loss: 'mse', lossWeights: { clss: 1 } }), tessera(/^compile: lossWeights names 'clss', not an output of the model \(cls, reg\)/));
    assert.throws(() => m.compile({ optimizer: 'adam', loss: 'mse', lossWeights: [1, -1] }), tessera(/^compile: lossWeights of reg must be a finite number >= 0, got -1/));
  });
});

const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
describe('two inputs, two outputs against PyTorch', { skip: torch ? false : 'python3-torch is not installed' }, () => {
  it("every step's total and per-output losses, and the weights after 8 Adam steps, match torch's", async () => {
    const d = data(64);
    const m = twoByTwo();
    compileTwo(m);
    const weights = await Promise.all(m.getWeights().map((w) => w.array()));
    // one batch per epoch: the epoch's logs are that step's losses
    const h = await m.fit([d.a, d.b], [d.cls, d.reg], { epochs: 8, batchSize: 64, shuffle: false, verbose: 0 });
    const script = `
import json, sys, torch
torch.set_default_dtype(torch.float64)
d = json.loads(sys.stdin.read())
T = lambda v: torch.tensor(v, dtype=torch.float64)
sk, sb, ck, cb, rk, rb = (T(w) for w in d['weights'])
params = [p.requires_grad_() for p in (sk, sb, ck, cb, rk, rb)]
a, b, reg = T(d['a']), T(d['b']), T(d['reg'])
cls = torch.tensor(d['cls'])
opt = torch.optim.Adam(params, lr=0.01, eps=1e-7)
out = []
for step in range(8):
    ha, hb = torch.tanh(a @ sk + sb), torch.tanh(b @ sk + sb)
    logits = torch.cat([ha, hb], 1) @ ck + cb
    value = (ha + hb) @ rk + rb
    lc = torch.nn.functional.cross_entropy(logits, cls)
    lr = ((value - reg) ** 2).mean()
    total = lc + 0.5 * lr
    out.append([total.item(), lc.item(), lr.item()])
    opt.zero_grad(); total.backward(); opt.step()
print(json.dumps({'losses': out, 'weights': [p.tolist() for p in params]}))`;
    const input = JSON.stringify({ weights, a: await d.a.array(), b: await d.b.array(), cls: Array.from(await d.cls.data()), reg: await d.reg.array() });
    const r = spawnSync('/usr/bin/python3', ['-c', script], { input, encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const theirs = JSON.parse(r.stdout) as { losses: number[][]; weights: unknown[] };
    theirs.losses.forEach(([total, lc, lr], step) => {
      for (const [key, want] of [['loss', total], ['cls_loss', lc], ['reg_loss', lr]] as const) {
        const got = h.history[key]![step]!;
        assert.ok(Math.abs(got - want!) < 1e-5 * Math.max(1, Math.abs(want!)), `step ${step} ${key}: ${got}, PyTorch ${want}`);
      }
    });
    const ours = await Promise.all(m.getWeights().map(async (w) => Array.from(await w.data())));
    theirs.weights.forEach((w, i) => (w as number[]).flat().forEach((v, k) => assert.ok(Math.abs(v - ours[i]![k]!) < 1e-5, `weight ${i}[${k}]: ${ours[i]![k]}, PyTorch ${v}`)));
  });
});
