// Host-to-device streaming in fit: the time per training step on a dataset 10x larger should
// be the same, since each batch is gathered on the host and only the batch moves. Per device
// (cpu, and webgpu where there is one): ms per step of the Fashion-MNIST MLP over host datasets
// of 6,000 and 60,000 rows, the same 60 steps each, and their ratio.
//   npm run build && node dist/bench/streaming.js
import * as tsr from '../src/index.js';
import { header, pad } from './harness.js';

const STEPS = 60, BATCH = 64;

async function msPerStep(device: string, rows: number): Promise<number> {
  tsr.setSeed(0);
  const x = tsr.rand([rows, 784], { seed: 1 }), y = tsr.randint(0, 10, [rows], { seed: 2 });
  const m = tsr.sequential([tsr.layers.dense({ units: 128, activation: 'relu', inputShape: [784] }), tsr.layers.dense({ units: 10 })]);
  m.compile({ optimizer: 'adam', loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), device });
  let started = 0, steps = 0;
  const clock = {
    // the first steps compile kernels and fill caches: time the rest
    onBatchEnd: () => { if (++steps === 10) started = performance.now(); if (steps === STEPS) m.stopTraining = true; },
  };
  await m.fit(x, y, { epochs: 1, batchSize: BATCH, verbose: 0, callbacks: [clock] });
  const ms = (performance.now() - started) / (STEPS - 10);
  m.optimizer?.dispose(); m.dispose(); x.dispose(); y.dispose();
  return ms;
}

async function main(): Promise<void> {
  await tsr.initDevices();
  console.log(header('fit streaming: ms per step against dataset size (data on the host)'));
  const devices = tsr.availableDevices().filter((d) => d === 'cpu' || d === 'webgpu' || d === 'cuda');
  for (const d of devices) console.log(`${d}: ${tsr.getBackend(d).info().description}`);
  console.log(`\n${pad('device', 8)} ${pad('6k rows', 12)} ${pad('60k rows', 12)} 60k / 6k`);
  for (const device of devices) {
    const small = await msPerStep(device, 6000), large = await msPerStep(device, 60000);
    console.log(`${pad(device, 8)} ${pad(`${small.toFixed(3)} ms`, 12)} ${pad(`${large.toFixed(3)} ms`, 12)} ${(large / small).toFixed(2)}x`);
  }
  await tsr.releaseDevices();
}

await main();
