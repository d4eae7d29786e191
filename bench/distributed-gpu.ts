// The data-parallel step's cost on one GPU, for a machine that has one: fit on cuda as a plain
// compiled step, and with data parallelism forced on in a world of one (the gradient plan, every
// bucket summed in place by NCCL on the compute stream through a communicator of one, then the
// update plan: what each rank of a job does, less the wire). Prints samples/s of both and the
// cost per step. NCCL refuses two ranks on one GPU, so this is what one GPU can show.
//   npm run build && node dist/bench/distributed-gpu.js [quick]   (needs CUDA and libnccl.so.2;
//   quick: a few steps each, to try the script against the fake CUDA)
import * as tsr from '../src/index.js';
import { probeNccl } from '../src/distributed/nccl.js';
import { FASHION_MODELS, type ModelKind } from '../src/train/fashion-models.js';
import { header, pad } from './harness.js';

await tsr.initDevices();
if (!tsr.availableDevices().includes('cuda')) {
  console.log('no cuda device here: nothing to measure');
  process.exit(0);
}
tsr.setDefaultDevice('cuda');
console.log(header('the data-parallel step on one GPU: plain compiled steps against the same steps with NCCL buckets'));
const nccl = probeNccl();
console.log(`nccl: ${'reason' in nccl ? `unavailable  ${nccl.reason}` : `${nccl.version} (${nccl.path})`}`);

/** samples/s of one epoch of `steps` steps at `batch`, after a warm-up epoch. */
async function speed(kind: ModelKind, batch: number, steps: number, distributed: boolean): Promise<{ perSecond: number; stepMs: number }> {
  tsr.setSeed(0);
  const model = FASHION_MODELS[kind].build();
  model.compile({ optimizer: tsr.optimizers.adam({ learningRate: 1e-3 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }) });
  const n = steps * batch, x = tsr.rand([n, 28, 28], { seed: 1 }), y = tsr.randint(0, 10, [n], { seed: 2 });
  const warm = Math.min(n, 10 * batch);
  await model.fit(x.slice([[0, warm]]), y.slice([[0, warm]]), { epochs: 1, batchSize: batch, verbose: 0, distributed });
  const t = performance.now();
  await model.fit(x, y, { epochs: 1, batchSize: batch, verbose: 0, shuffle: false, distributed });
  const seconds = (performance.now() - t) / 1000;
  x.dispose(); y.dispose(); model.dispose();
  return { perSecond: n / seconds, stepMs: seconds * 1000 / steps };
}

console.log(`\n${'workload'.padEnd(20)}${pad('plain /s', 11)}${pad('nccl /s', 11)}${pad('plain ms', 10)}${pad('nccl ms', 10)}${pad('cost/step', 11)}`);
const quick = process.argv[2] === 'quick';
// quick: the fake CUDA's 64 MB hold the MLP at batch 32 only
const workloads = [['mlp', 32, 300], ['mlp', 256, 200], ['cnn', 32, 200], ['cnn', 256, 100]] as const;
for (const [kind, batch, full] of workloads.filter(([k, b]) => !quick || (k === 'mlp' && b === 32))) {
  const steps = quick ? 3 : full;
  const plain = await speed(kind, batch, steps, false), dp = await speed(kind, batch, steps, true);
  console.log(`${`${kind} batch ${batch}`.padEnd(20)}${pad(plain.perSecond.toFixed(0), 11)}${pad(dp.perSecond.toFixed(0), 11)}${pad(plain.stepMs.toFixed(3), 10)}${pad(dp.stepMs.toFixed(3), 10)}${pad(`${((dp.stepMs / plain.stepMs - 1) * 100).toFixed(0)}%`, 11)}`);
}
console.log('\nplain: fit\'s compiled step; nccl: fit with distributed: true in a world of one (two compiled plans, the');
console.log('gradient buckets summed in place by ncclAllReduce on the compute stream between them); cost/step = nccl ms / plain ms - 1');
tsr.distributed.shutdown();
