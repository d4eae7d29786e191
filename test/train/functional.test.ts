// The functional API: tsr.input, layers called on symbolic tensors (shared layers included),
// merge layers (float64 references and central differences on every device), tsr.model with
// several inputs and outputs, training, saving and loading, and the errors a wrong graph gives.
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

type MergeCase = { name: string; layer: () => tsr.nn.Merge; inputs: number[][]; ref: (xs: number[][], b: number, shapes: number[][]) => number[] };

/** Per batch row b: the inputs' rows, flat. */
const rows = (xs: Float64Array[], shapes: number[][], b: number) => xs.map((x, i) => Array.from(x.subarray(b * shapes[i]!.reduce((p, q) => p * q, 1), (b + 1) * shapes[i]!.reduce((p, q) => p * q, 1))));

const CASES: MergeCase[] = [
  { name: 'add', layer: () => L.add(), inputs: [[3, 2], [3, 2], [3, 2]], ref: (r) => r[0]!.map((_, i) => r[0]![i]! + r[1]![i]! + r[2]![i]!) },
  { name: 'subtract', layer: () => L.subtract(), inputs: [[5], [5]], ref: (r) => r[0]!.map((v, i) => v - r[1]![i]!) },
  { name: 'multiply', layer: () => L.multiply(), inputs: [[4], [4]], ref: (r) => r[0]!.map((v, i) => v * r[1]![i]!) },
  { name: 'average', layer: () => L.average(), inputs: [[4], [4], [4]], ref: (r) => r[0]!.map((v, i) => (v + r[1]![i]! + r[2]![i]!) / 3) },
  { name: 'maximum', layer: () => L.maximum(), inputs: [[6], [6]], ref: (r) => r[0]!.map((v, i) => Math.max(v, r[1]![i]!)) },
  { name: 'minimum', layer: () => L.minimum(), inputs: [[6], [6]], ref: (r) => r[0]!.map((v, i) => Math.min(v, r[1]![i]!)) },
  {
    name: 'concatenate axis 1 of [2, 3] and [4, 3]', layer: () => L.concatenate({ axis: 1 }), inputs: [[2, 3], [4, 3]],
    ref: (r) => [...r[0]!, ...r[1]!],
  },
  {
    name: 'concatenate axis -1 of [2, 3] and [2, 1]', layer: () => L.concatenate(), inputs: [[2, 3], [2, 1]],
    ref: (r) => [0, 1].flatMap((i) => [...r[0]!.slice(3 * i, 3 * i + 3), r[1]![i]!]),
  },
  { name: 'dot axes 1', layer: () => L.dot({ axes: 1 }), inputs: [[5], [5]], ref: (r) => [r[0]!.reduce((s, v, i) => s + v * r[1]![i]!, 0)] },
  {
    name: 'dot normalize (cosine)', layer: () => L.dot({ axes: -1, normalize: true }), inputs: [[4], [4]],
    ref: (r) => { const n = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)); return [r[0]!.reduce((s, v, i) => s + v * r[1]![i]!, 0) / (n(r[0]!) * n(r[1]!))]; },
  },
  {
    // [b, 2, 3] . [b, 4, 3] along the last axes: [b, 2, 4]
    name: 'dot axes [2, 2] of rank 3', layer: () => L.dot({ axes: [2, 2] }), inputs: [[2, 3], [4, 3]],
    ref: (r) => [0, 1].flatMap((m) => [0, 1, 2, 3].map((n) => [0, 1, 2].reduce((s, k) => s + r[0]![3 * m + k]! * r[1]![3 * n + k]!, 0))),
  },
];

for (const device of testDevices()) {
  describe(`merge layers on ${device}`, () => {
    for (const c of CASES) {
      it(`${c.name}: output shape, a float64 reference and central-difference gradients`, async () => {
        const batch = 2;
        const xs = c.inputs.map((s, i) => tsr.randn([batch, ...s], { seed: 10 + i, device }).requireGrad());
        const layer = c.layer();
        const symbolic = layer.apply(c.inputs.map((s) => tsr.input({ shape: s })));
        const y = layer.apply(xs);
        assert.deepEqual(y.shape.slice(1), symbolic.sampleShape, 'the symbolic call predicts the shape');
        const data = await Promise.all(xs.map(async (x) => Float64Array.from(await x.data())));
        const got = await y.data();
        const per = y.size / batch;
        for (let b = 0; b < batch; b++) {
          const want = c.ref(rows(data, c.inputs, b), b, c.inputs);
          want.forEach((v, i) => assert.ok(Math.abs(got[b * per + i]! - v) < 1e-5 * (1 + Math.abs(v)), `${c.name} [${b}, ${i}]: ${got[b * per + i]} vs ${v}`));
        }
        const r = tsr.randn(y.shape, { seed: 3, device });
        await checkGradsByDifferences(c.name, () => layer.apply(xs).mul(r).sum(), xs.map((x, i) => [`input ${i + 1}`, x] as const), { step: 1e-2 });
      });
    }
  });
}

/** Two inputs through one shared dense layer; a concatenation and a difference head. */
function twoHeaded() {
  tsr.setSeed(7);
  const left = tsr.input({ shape: [6], name: 'left' }), right = tsr.input({ shape: [6], name: 'right' });
  const shared = L.dense({ units: 8, activation: 'tanh', name: 'shared' });
  const a = shared.apply(left), b = shared.apply(right);
  const joined = L.dense({ units: 3, name: 'joined' }).apply(L.concatenate({ name: 'cat' }).apply([a, b]));
  const diff = L.dense({ units: 1, name: 'diff' }).apply(L.subtract({ name: 'sub' }).apply([a, b]));
  return { model: tsr.model({ inputs: [left, right], outputs: [joined, diff], name: 'two_headed' }), shared };
}

describe('functional models', () => {
  it('a shared layer holds one set of weights, and the summary names what each call reads', () => {
    const { model, shared } = twoHeaded();
    assert.equal(model.layers.filter((l) => l === shared).length, 1);
    assert.equal(model.countParams(), (6 * 8 + 8) + (16 * 3 + 3) + (8 + 1));
    const text = model.summary(() => {});
    assert.match(text, /left \(InputLayer\)/);
    assert.match(text, /shared \(Dense\)\s+\(None, 8\)\s+56\s+left/);
    assert.match(text, /shared \(Dense\)\s+\(None, 8\)\s+0\s+right/);
    assert.match(text, /cat \(Concatenate\)\s+\(None, 16\)\s+0\s+shared\[0\], shared\[1\]/);
  });

  it('a two-input, two-output model with a shared layer trains, saves and loads', async () => {
    const { model } = twoHeaded();
    const xl = tsr.randn([32, 6], { seed: 1 }), xr = tsr.randn([32, 6], { seed: 2 });
    const t1 = tsr.randn([32, 3], { seed: 3 }), t2 = tsr.randn([32, 1], { seed: 4 });
    const opt = tsr.optimizers.adam({ learningRate: 0.02 });
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      tsr.tidy(() => {
        const [p1, p2] = model.call([xl, xr]);
        const loss = tsr.losses.meanSquaredError()(p1!, t1).add(tsr.losses.meanSquaredError()(p2!, t2).mul(0.5));
        loss.backward();
        opt.step(model.parameters());
        model.zeroGrad();
        losses.push(loss.item());
      });
    }
    assert.ok(losses.at(-1)! < 0.7 * losses[0]!, `the loss fell from ${losses[0]} to ${losses.at(-1)}`);
    const dir = mkdtempSync(join(tmpdir(), 'tessera-functional-'));
    await model.save(dir);
    const loaded = await tsr.loadModel(dir);
    assert.ok(loaded instanceof tsr.Functional);
    const [a1, a2] = model.call([xl, xr]), [b1, b2] = loaded.call([xl, xr]);
    assert.deepEqual(await b1!.data(), await a1!.data());
    assert.deepEqual(await b2!.data(), await a2!.data());
    assert.deepEqual(loaded.layers.map((l) => l.name), model.layers.map((l) => l.name));
  });

  it('a one-input, one-output functional model (a residual block) trains with fit and predicts after loading', async () => {
    tsr.setSeed(3);
    const x = tsr.input({ shape: [10] });
    const h = L.dense({ units: 16, activation: 'relu' }).apply(x);
    const residual = L.add().apply([h, L.dense({ units: 16, activation: 'relu' }).apply(h)]);
    const model = tsr.model({ inputs: x, outputs: L.dense({ units: 3, activation: 'softmax' }).apply(residual) });
    model.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const xs = tsr.randn([96, 10], { seed: 5 });
    // a learnable rule: the class is the argmax of the first three features
    const ys = tsr.argmax(xs.slice([[0, 96], [0, 3]]), 1);
    const history = await model.fit(xs, ys, { epochs: 20, batchSize: 16, verbose: 0 });
    const acc = history.history['accuracy']!;
    assert.ok(acc.at(-1)! > 0.8, `accuracy ${acc.at(-1)}`);
    const dir = mkdtempSync(join(tmpdir(), 'tessera-functional-'));
    await model.save(dir);
    const loaded = await tsr.loadModel(dir);
    assert.deepEqual(await (loaded.predict(xs) as tsr.Tensor).data(), await (model.predict(xs) as tsr.Tensor).data());
  });

  it('wrong graphs and wrong inputs fail with errors naming the layer, tensor and shapes', () => {
    const a = tsr.input({ shape: [4], name: 'in_a' }), b = tsr.input({ shape: [4], name: 'in_b' });
    const out = L.dense({ units: 2, name: 'head' }).apply(L.add().apply([a, b]));
    assert.throws(() => tsr.model({ inputs: a, outputs: out }), tessera(/^model: output head\/output_1 depends on input in_b, which is not among the model's inputs \(in_a\): the graph is disconnected/));
    const m = tsr.model({ inputs: [a, b], outputs: out });
    assert.throws(() => m.call([tsr.zeros([2, 4]), tsr.zeros([2, 5])]), tessera(/input in_b expects shape \[batch, 4\], got \[2, 5\]/));
    assert.throws(() => m.call([tsr.zeros([2, 4])]), tessera(/takes 2 input tensors \(in_a, in_b\), got 1/));
    assert.throws(() => L.add().apply([a, tsr.input({ shape: [5] })]), tessera(/^add_\d+: inputs must have one shape: input 1 is \[batch, 4\], input 2 is \[batch, 5\]/));
    assert.throws(() => L.concatenate({ axis: 1 }).apply([tsr.input({ shape: [2, 3] }), tsr.input({ shape: [2, 4] })]), tessera(/inputs must agree except along axis 1/));
    assert.throws(() => L.add().apply(a as never), tessera(/takes a list of at least two inputs/));
    assert.throws(() => L.dot({ axes: 1 }).apply([a, tsr.input({ shape: [3] })]), tessera(/axes \[1, 1\] have sizes 4 and 3/));
    const dense = L.dense({ units: 3, name: 'once' });
    dense.apply(a);
    assert.throws(() => dense.apply(tsr.input({ shape: [7] })), tessera(/^once: was built for inputs of shape \[batch, 4\], called on input_\d+ of shape \[batch, 7\]/));
    assert.throws(() => L.dense({ units: 2 }).apply([a, b] as never), tessera(/takes one input, got a list of 2/));
    assert.throws(() => tsr.model({ inputs: out, outputs: out }), tessera(/inputs must be tsr.input\(\) tensors; head\/output_1 is the output of layer head/));
    assert.throws(() => tsr.input({ shape: [0, 3] }), tessera(/^input: shape \[0, 3\] has a zero dimension/));
    assert.throws(() => m.forward(tsr.zeros([2, 4])), tessera(/forward needs a model of one input and one output; this one has 2 and 1/));
  });
});
