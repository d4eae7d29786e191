// What fit() costs on top of the raw training step: the same MLP and batches through a bare
// forward/backward/Adam loop and through model.fit (shuffling, metrics, progress), side by side.
//   npm run build && node dist/bench/fit-overhead.js
import * as tsr from '../src/index.js';
import { header } from './harness.js';

const BATCH = 32, SAMPLES = 9600, ROUNDS = 5;

function mlp(): tsr.Sequential {
  tsr.setSeed(0);
  const m = tsr.sequential([
    tsr.layers.flatten({ inputShape: [28, 28] }),
    tsr.layers.dense({ units: 128, activation: 'relu' }),
    tsr.layers.dense({ units: 10 }),
  ]);
  m.compile({ optimizer: tsr.optimizers.adam(), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
  return m;
}

async function main(): Promise<void> {
  console.log(header('fit() overhead: model.fit vs a raw training loop (Fashion-MNIST MLP shape, batch 32)'));
  const x = tsr.rand([SAMPLES, 28, 28], { seed: 1 }), y = tsr.randint(0, 10, [SAMPLES], { seed: 2 });
  const raw: number[] = [], fit: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = mlp(), opt = tsr.optimizers.adam();
    let t = performance.now();
    for (let s = 0; s < SAMPLES; s += BATCH) {
      tsr.tidy(() => {
        const loss = tsr.crossEntropy(a.apply(x.slice([[s, s + BATCH]])), y.slice([[s, s + BATCH]]));
        loss.backward();
        opt.step(a.parameters());
        a.zeroGrad();
      });
    }
    raw.push(SAMPLES / ((performance.now() - t) / 1000));
    const b = mlp();
    t = performance.now();
    await b.fit(x, y, { epochs: 1, batchSize: BATCH, verbose: 0 });
    fit.push(SAMPLES / ((performance.now() - t) / 1000));
    a.dispose(); b.dispose(); opt.dispose();
  }
  const med = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)]!;
  console.log(`\nraw loop: ${Math.round(med(raw))} samples/s`);
  console.log(`fit():    ${Math.round(med(fit))} samples/s (shuffled batches, loss and accuracy per batch)`);
  console.log(`fit / raw = ${(med(fit) / med(raw) * 100).toFixed(1)}% (goal >= 90%; median of ${ROUNDS} alternating rounds)`);
}

await main();
