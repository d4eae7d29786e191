// Keras's masking: an embedding with maskZero marks padded steps; recurrent layers skip them
// (keeping their state and output), so padding anywhere changes nothing; layers that cannot
// carry the mask say so. Gradients by central differences through the masked recurrence.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { checkGradsByDifferences, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;
const ids = (rows: number[][], device: string) => tsr.tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], device });
const SEQUENCES = [[3, 1, 4, 1, 5], [9, 2, 6], [5, 3]];

for (const device of testDevices()) {
  describe(`masking on ${device}`, () => {
    for (const rnn of ['lstm', 'gru', 'simpleRNN', 'bidirectional lstm', 'lstm read backwards'] as const) {
      it(`${rnn}: padding before or after a sequence changes nothing`, async () => {
        tsr.setSeed(12);
        const layer = rnn === 'bidirectional lstm' ? L.bidirectional({ layer: L.lstm({ units: 3 }) })
          : rnn === 'lstm read backwards' ? L.lstm({ units: 3, goBackwards: true })
          : L[rnn]({ units: 3 });
        const m = tsr.sequential([L.embedding({ inputDim: 10, outputDim: 4, maskZero: true }), layer, L.dense({ units: 2 })]);
        m.to(device);
        const width = 7;
        const post = ids(SEQUENCES.map((s) => [...s, ...new Array<number>(width - s.length).fill(0)]), device);
        const pre = ids(SEQUENCES.map((s) => [...new Array<number>(width - s.length).fill(0), ...s]), device);
        const a = await m.predict(post).data(), b = await m.predict(pre).data();
        for (let i = 0; i < SEQUENCES.length; i++) {
          // the model as a layer: no check of the sequence length it was built for
          const alone = await tsr.noGrad(() => m.apply(ids([SEQUENCES[i]!], device))).data();
          for (let k = 0; k < 2; k++) {
            assert.ok(Math.abs(a[2 * i + k]! - alone[k]!) < 1e-5, `${rnn} sample ${i}: padded after ${a[2 * i + k]} vs alone ${alone[k]}`);
            assert.ok(Math.abs(b[2 * i + k]! - alone[k]!) < 1e-5, `${rnn} sample ${i}: padded before ${b[2 * i + k]} vs alone ${alone[k]}`);
          }
        }
      });
    }

    it('returnSequences: a padded step repeats the last real output; gradients by central differences', async () => {
      tsr.setSeed(13);
      const emb = L.embedding({ inputDim: 10, outputDim: 3, maskZero: true });
      const lstm = L.lstm({ units: 2, returnSequences: true });
      const m = tsr.sequential([emb, lstm]);
      m.to(device);
      const x = ids([[4, 2, 0, 0], [0, 7, 1, 3]], device);
      const y = (await m.predict(x).array()) as number[][][];
      assert.deepEqual(y[0]![2], y[0]![1]);
      assert.deepEqual(y[0]![3], y[0]![1]);
      assert.deepEqual(y[1]![0], [0, 0], 'before the first real step the state is the zero it starts from');
      const w = tsr.randn([2, 4, 2], { seed: 3, device });
      await checkGradsByDifferences('masked lstm', () => tsr.sum(tsr.mul(m.apply(x), w)), lstm.namedTensors().map(([n, t]) => [n, t] as [string, tsr.Tensor]), { samples: 10 });
    });
  });
}

describe('masks in models', () => {
  it('flow through a functional model (dense, dropout and add carry them), save and load', async () => {
    tsr.setSeed(14);
    const tokens = tsr.input({ shape: [6], dtype: 'int32' });
    const e = L.embedding({ inputDim: 12, outputDim: 4, maskZero: true }).apply(tokens);
    const h = L.add().apply([e, L.dropout({ rate: 0.1 }).apply(L.dense({ units: 4 }).apply(e))]);
    const m = tsr.model({ inputs: tokens, outputs: L.dense({ units: 1 }).apply(L.gru({ units: 3 }).apply(h)) });
    // the same two ids wherever the padding goes
    const placings = ids([[5, 1, 0, 0, 0, 0], [0, 0, 0, 0, 5, 1], [0, 5, 0, 1, 0, 0]], 'cpu');
    const out = await (m.predict(placings) as tsr.Tensor).data();
    assert.ok(Math.abs(out[0]! - out[1]!) < 1e-5 && Math.abs(out[0]! - out[2]!) < 1e-5, `the same output wherever the padding is: ${Array.from(out)}`);
    const dir = mkdtempSync(join(tmpdir(), 'tessera-masking-'));
    await m.save(dir);
    const back = (await tsr.loadModel(dir)) as tsr.Functional;
    assert.deepEqual(await (back.predict(placings) as tsr.Tensor).data(), out, 'the loaded model masks too');
  });

  it('a layer that cannot carry the mask is an error naming it', () => {
    const m = tsr.sequential([L.embedding({ inputDim: 10, outputDim: 4, maskZero: true, inputShape: [5] }), L.conv1d({ filters: 2, kernelSize: 2, name: 'conv' }), L.lstm({ units: 2 })]);
    assert.throws(() => m.predict(tsr.zeros([1, 5], { dtype: 'int32' })), /conv: Conv1D cannot use or carry the mask of padded steps \(from an embedding with maskZero\); put a recurrent layer before it, or drop maskZero/);
  });
});
