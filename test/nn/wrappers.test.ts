// timeDistributed and bidirectional: references built independently of the wrappers (a float64
// dense per step; a forward-reading copy of the backward layer on the reversed sequence),
// central-difference gradients, and save/load, on every device.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { checkGradsByDifferences, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

const L = tsr.layers;
const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-5) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what} [${i}]: ${a[i]} vs ${b[i]}`);
};
/** x [batch, time, ...] with the time axis reversed. */
const reversed = (x: tsr.Tensor) => tsr.gather(x, tsr.tensor(Int32Array.from({ length: x.shape[1]! }, (_, t) => x.shape[1]! - 1 - t), { device: x.device }), 1);

for (const device of testDevices()) {
  describe(`wrapper layers on ${device}`, () => {
    it('timeDistributed(dense) is the dense layer on every step: a float64 reference and central differences', async () => {
      tsr.setSeed(1);
      const td = L.timeDistributed({ layer: L.dense({ units: 3, activation: 'tanh' }) });
      const x = tsr.randn([2, 4, 5], { seed: 2, device }).requireGrad();
      const y = td.apply(x);
      assert.deepEqual(y.shape, [2, 4, 3]);
      assert.deepEqual(td.computeOutputShape([4, 5]), [4, 3]);
      const [kernel, bias] = await Promise.all(td.layer.getWeights().map((w) => w.data()));
      const xs = await x.data(), got = await y.data();
      for (let r = 0; r < 8; r++) {
        for (let j = 0; j < 3; j++) {
          let s = bias![j]!;
          for (let k = 0; k < 5; k++) s += xs[r * 5 + k]! * kernel![k * 3 + j]!;
          assert.ok(Math.abs(got[r * 3 + j]! - Math.tanh(s)) < 1e-5, `row ${r}, unit ${j}`);
        }
      }
      const w = tsr.randn(y.shape, { seed: 3, device });
      await checkGradsByDifferences('timeDistributed', () => td.apply(x).mul(w).sum(), [['input', x], ...td.namedTensors()], { samples: 10 });
    });

    for (const returnSequences of [true, false]) {
      it(`bidirectional(lstm${returnSequences ? ', returnSequences' : ''}): the backward half is a forward LSTM with its weights on the reversed sequence`, async () => {
        tsr.setSeed(4);
        const bi = L.bidirectional({ layer: L.lstm({ units: 3, returnSequences }) });
        const x = tsr.randn([2, 5, 4], { seed: 5, device }).requireGrad();
        const y = bi.apply(x);
        assert.deepEqual(y.shape, returnSequences ? [2, 5, 6] : [2, 6]);
        const a = bi.forwardLayer.apply(x);
        const plain = L.lstm({ units: 3, returnSequences });
        plain.apply(x);
        plain.setWeights(bi.backwardLayer.getWeights());
        let b = plain.apply(reversed(x));
        if (returnSequences) b = reversed(b);
        const axis = y.rank - 1;
        close(await tsr.slice(y, axis === 2 ? [null, null, [0, 3]] : [null, [0, 3]]).data(), await a.data(), 'forward half');
        close(await tsr.slice(y, axis === 2 ? [null, null, [3, 6]] : [null, [3, 6]]).data(), await b.data(), 'backward half');
        const r = tsr.randn(y.shape, { seed: 6, device });
        await checkGradsByDifferences('bidirectional', () => bi.apply(x).mul(r).sum(), [['input', x], ...bi.namedTensors()], { samples: 6 });
      });
    }

    it('bidirectional merge modes sum, mul and ave combine the two halves', async () => {
      const x = tsr.randn([2, 3, 2], { seed: 7, device });
      for (const mode of ['sum', 'mul', 'ave'] as const) {
        tsr.setSeed(8);
        const bi = L.bidirectional({ layer: L.gru({ units: 2 }), mergeMode: mode });
        const y = await bi.apply(x).data();
        const a = await bi.forwardLayer.apply(x).data(), b = await bi.backwardLayer.apply(x).data();
        close(y, Array.from(a, (v, i) => (mode === 'sum' ? v + b[i]! : mode === 'mul' ? v * b[i]! : (v + b[i]!) / 2)), mode);
      }
    });
  });
}

describe('wrapper layers: saving and bad input', () => {
  it('a model with bidirectional and timeDistributed layers saves and loads with the same outputs and weight names', async () => {
    tsr.setSeed(9);
    const m = tsr.sequential([
      L.bidirectional({ layer: L.simpleRNN({ units: 4, returnSequences: true }), inputShape: [6, 3] }),
      L.timeDistributed({ layer: L.dense({ units: 2 }) }),
    ]);
    const x = tsr.randn([3, 6, 3], { seed: 10 });
    const dir = mkdtempSync(join(tmpdir(), 'tessera-wrappers-'));
    await m.save(dir);
    const loaded = await tsr.loadModel(dir);
    assert.deepEqual(loaded.namedTensors().map(([n]) => n), m.namedTensors().map(([n]) => n));
    assert.deepEqual(await (loaded.predict(x) as tsr.Tensor).data(), await m.predict(x).data());
  });

  it('bidirectional takes recurrent layers only; timeDistributed needs a time axis', () => {
    assert.throws(() => L.bidirectional({ layer: L.dense({ units: 2 }) }), /wraps a recurrent layer \(simpleRNN, lstm, gru\), got Dense/);
    assert.throws(() => L.bidirectional({ layer: 'lstm' as never }), /layer must be a layer/);
    assert.throws(() => L.bidirectional({ layer: L.lstm({ units: 2 }), mergeMode: 'max' as never }), /mergeMode must be one of 'concat', 'sum', 'mul', 'ave', got 'max'/);
    assert.throws(() => L.timeDistributed({ layer: L.dense({ units: 2 }) }).apply(tsr.zeros([2, 3])), /expects inputs \[batch, time, \.\.\.\], got per-sample shape \[3\]/);
  });
});
