// returnState and initial states of SimpleRNN, LSTM and GRU: reading a sequence in two parts,
// the second from the first's final states, is reading it whole; central-difference gradients
// through the initial states; an encoder-decoder model trains, saves, loads and exports to ONNX.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import * as tsr from '../../src/index.js';
import { checkGradsByDifferences, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;
type Kind = 'simpleRNN' | 'lstm' | 'gru';
const close = async (a: tsr.Tensor, b: tsr.Tensor, what: string) => {
  const x = await a.data(), y = await b.data();
  assert.deepEqual(a.shape, b.shape, what);
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) < 1e-5, `${what} [${i}]: ${v} vs ${y[i]}`));
};

for (const device of testDevices()) {
  describe(`recurrent states on ${device}`, () => {
    for (const kind of ['simpleRNN', 'lstm', 'gru'] as Kind[]) {
      it(`${kind}: the second half read from the first half's states is the whole sequence read at once`, async () => {
        for (const goBackwards of [false, true]) {
          tsr.setSeed(21);
          const layer = L[kind]({ units: 4, returnState: true, returnSequences: true, goBackwards, biasInitializer: 'glorotUniform' }) as tsr.nn.LSTM;
          const x = tsr.randn([2, 6, 3], { seed: 4, device });
          const [first, second] = [x.slice([null, [0, 3]]), x.slice([null, [3, 6]])];
          const [whole, ...wholeStates] = layer.applyWithState(x);
          // read forwards the first half comes first; backwards, the second
          const [earlier, later] = goBackwards ? [second, first] : [first, second];
          const [, ...mid] = layer.applyWithState(earlier);
          const [rest, ...restStates] = layer.applyWithState([later, ...mid]);
          assert.equal(wholeStates.length, kind === 'lstm' ? 2 : 1);
          for (let s = 0; s < wholeStates.length; s++) await close(restStates[s]!, wholeStates[s]!, `${kind}${goBackwards ? ' backwards' : ''} state ${s}`);
          // the later part's outputs end the whole one's (in the order read, as Keras gives them)
          const part = whole.slice([null, [3, 6]]);
          await close(rest, part, `${kind}${goBackwards ? ' backwards' : ''} outputs`);
          // without returnSequences the output is the final h
          const last = L[kind]({ units: 4, returnState: true }) as tsr.nn.LSTM;
          const [out, h] = last.applyWithState(x);
          await close(out!, h!, `${kind} output and h`);
        }
      });

      it(`${kind}: gradients through the initial states and the weights by central differences`, async () => {
        tsr.setSeed(22);
        const layer = L[kind]({ units: 3, returnState: true, returnSequences: true }) as tsr.nn.LSTM;
        const x = tsr.randn([2, 4, 2], { seed: 5, device }).requireGrad();
        const initial = Array.from({ length: kind === 'lstm' ? 2 : 1 }, (_, s) => tsr.randn([2, 3], { seed: 6 + s, device }).requireGrad());
        const weights = [tsr.randn([2, 4, 3], { seed: 9, device }), ...initial.map((_, s) => tsr.randn([2, 3], { seed: 10 + s, device }))];
        const loss = () => {
          const outs = layer.applyWithState([x, ...initial]);
          return outs.map((o, i) => tsr.sum(tsr.mul(o, weights[i]!))).reduce((a, b) => tsr.add(a, b));
        };
        loss();
        await checkGradsByDifferences(`${kind} states`, loss, [['x', x], ...initial.map((t, s) => [`initial ${s}`, t] as [string, tsr.Tensor]), ...layer.namedTensors().map(([n, t]) => [n, t] as [string, tsr.Tensor])], { samples: 8 });
      });
    }
  });
}

describe('encoder-decoder models', () => {
  it("an LSTM encoder's states start the decoder: trains, summarises, saves, loads and matches onnxruntime", async () => {
    tsr.setSeed(23);
    const source = tsr.input({ shape: [5, 3], name: 'source' }), target = tsr.input({ shape: [4, 2], name: 'target' });
    const [, h, c] = L.lstm({ units: 6, returnState: true }).applyWithState(source);
    const decoded = L.lstm({ units: 6, returnSequences: true }).apply([target, h!, c!]);
    const m = tsr.model({ inputs: [source, target], outputs: L.timeDistributed({ layer: L.dense({ units: 2 }) }).apply(decoded) });
    const lines: string[] = [];
    m.summary((l) => lines.push(l));
    assert.ok(lines.some((l) => /lstm_\d+\[1\], lstm_\d+\[2\]/.test(l)), `the decoder reads the encoder's h and c:\n${lines.join('\n')}`);
    const xs = tsr.randn([16, 5, 3], { seed: 1 }), ts = tsr.randn([16, 4, 2], { seed: 2 });
    // the target: the decoder input shifted, plus the mean of the source (which only the states carry)
    const y = tsr.tidy(() => tsr.add(ts.mul(0.5), tsr.mean(xs, [1, 2], true)));
    m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.02 }), loss: 'mse' });
    const hist = await m.fit([xs, ts], y, { epochs: 10, batchSize: 8, verbose: 0 });
    assert.ok(hist.history['loss']!.at(-1)! < hist.history['loss']![0]! * 0.7, `the loss falls: ${hist.history['loss']}`);
    const dir = await mkdtemp(join(tmpdir(), 'tessera-seq2seq-'));
    await m.save(dir);
    const back = (await tsr.loadModel(dir)) as tsr.Functional;
    const want = await (m.predict([xs, ts]) as tsr.Tensor).data();
    assert.deepEqual(await (back.predict([xs, ts]) as tsr.Tensor).data(), want);
    await m.exportOnnx(join(dir, 'model.onnx'));
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const out = await session.run({ source: new ort.Tensor('float32', (await xs.data()) as Float32Array, xs.shape), target: new ort.Tensor('float32', (await ts.data()) as Float32Array, ts.shape) });
    const got = out[m.outputNames[0]!]!.data as Float32Array;
    want.forEach((v, i) => assert.ok(Math.abs(v - got[i]!) < 1e-4, `onnx [${i}]: ${got[i]} vs ${v}`));
  });

  it('wrong initial states and returnState inside bidirectional are clear errors', () => {
    const lstm = L.lstm({ units: 4, name: 'enc' });
    assert.throws(() => lstm.apply([tsr.input({ shape: [5, 3] }), tsr.input({ shape: [4] })]), /enc: takes \[x, \.\.\.initial states\]: 2 states of shape \[batch, 4\], got \[batch, 4\]/);
    assert.throws(() => L.gru({ units: 3 }).apply([tsr.zeros([2, 5, 3]), tsr.zeros([2, 4])]), /initial states must be 1 tensor of shape \[2, 3\], got \[2, 4\]/);
    assert.throws(() => L.bidirectional({ layer: L.lstm({ units: 2, returnState: true }) }), /a wrapped layer with returnState is not supported/);
    assert.throws(() => L.lstm({ units: 2 }).applyWithState(tsr.zeros([1, 2, 2])), /applyWithState needs returnState: true/);
  });
});
