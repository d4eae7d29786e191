// One process of bench/distributed.ts's scaling runs: fit on random Fashion-MNIST-shaped data,
// `batch` samples per process per step, timed after a warm-up epoch; rank 0 prints the job's
// samples per second (in a job, after a line of each rank's share of that time spent waiting for the
// others and in MPI's data calls). Usage: node dist/bench/distributed-fit-rank.js mlp|cnn batch steps [eager]
import * as tsr from '../src/index.js';
import { FASHION_MODELS, type ModelKind } from '../src/train/fashion-models.js';

const [kind, batchArg, stepsArg, mode] = process.argv.slice(2) as [ModelKind, string, string, string | undefined];
const batch = Number(batchArg), steps = Number(stepsArg);
const { rank, worldSize } = tsr.distributed.init();
tsr.setSeed(0);
const model = FASHION_MODELS[kind].build();
model.compile({ jit: mode !== 'eager', optimizer: tsr.optimizers.adam({ learningRate: 1e-3 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }) });
const n = steps * batch * worldSize;
const x = tsr.rand([n, 28, 28], { seed: 1 }), y = tsr.randint(0, 10, [n], { seed: 2 });
const warm = Math.min(n, 10 * batch * worldSize);
await model.fit(x.slice([[0, warm]]), y.slice([[0, warm]]), { epochs: 1, batchSize: batch, verbose: 0 });
const t = performance.now(), before = tsr.distributed.stats();
await model.fit(x, y, { epochs: 1, batchSize: batch, verbose: 0, shuffle: false });
const seconds = (performance.now() - t) / 1000, after = tsr.distributed.stats();
// in a job, where each rank's time went: waiting for the others at the agreement checks, and in MPI's data calls
if (worldSize > 1) {
  const share = (ms: number) => ms / 10 / seconds;
  const mine = tsr.tensor([share(after.waitMs - before.waitMs), share(after.transferMs - before.transferMs)]);
  const all = [...await (await tsr.distributed.allGather(mine)).data()];
  if (rank === 0) console.log(`wait% ${all.filter((_, i) => i % 2 === 0).map((v) => v.toFixed(1)).join(' ')} transfer% ${all.filter((_, i) => i % 2 === 1).map((v) => v.toFixed(1)).join(' ')}`);
}
// every process prints (two independent ones are summed); a job's rank 0 speaks for it
if (rank === 0) console.log(`${(n / seconds).toFixed(1)}`);
tsr.distributed.shutdown();
