// One rank of the data-parallel fit test: the global batch of 64 split over the ranks, 2 epochs
// of a shuffled 640 rows (20 Adam steps). Alone it is the one-process baseline at batch 64.
// TESSERA_TEST_DIR: a CSV log and a checkpoint there; with TESSERA_TEST_RESUME, one more epoch
// from that checkpoint instead. TESSERA_TEST_JIT=0: eager steps (else compiled);
// TESSERA_TEST_BUCKET_MB: gradient buckets of that size; TESSERA_TEST_SGD=1: SGD (which, unlike Adam,
// sees a gradient's scale); TESSERA_TEST_DEVICE: train there; TESSERA_TEST_FAKE_NCCL: that fake NCCL
// library's count of collectives, and the fake CUDA's count of waits between its streams, go in the result.
// TESSERA_TEST_TIMEOUT: the job's timeout in seconds (30); TESSERA_TEST_MODE: a rank that stops,
// dies or leaves fit mid-epoch (below).
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as tsr from '../../src/index.js';
import { settledMemory } from '../helpers/check.js';

const { rank, worldSize } = tsr.distributed.init({ timeoutSeconds: Number(process.env['TESSERA_TEST_TIMEOUT'] ?? 30) });
const dir = process.env['TESSERA_TEST_DIR'], resume = process.env['TESSERA_TEST_RESUME'] === '1';
tsr.setSeed(rank);
if (process.env['TESSERA_TEST_DEVICE']) {
  await tsr.initDevices();
  tsr.setDefaultDevice(process.env['TESSERA_TEST_DEVICE']);
}
let model: tsr.AnyModel;
if (resume) {
  model = await tsr.loadModel(`${dir}/ckpt`);
} else {
  model = tsr.sequential([tsr.layers.dense({ units: 16, activation: 'tanh', inputShape: [8] }), tsr.layers.dense({ units: 3 })]);
  model.compile({ jit: process.env['TESSERA_TEST_JIT'] !== '0', optimizer: process.env['TESSERA_TEST_SGD'] === '1' ? tsr.optimizers.sgd({ learningRate: 0.1 }) : tsr.optimizers.adam({ learningRate: 1e-2 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
}
const x = tsr.randn([640, 8], { seed: 7 }), y = tsr.randint(0, 3, [640], { seed: 8 });
let stoppedAt: number | null = null;
const mode = process.env['TESSERA_TEST_MODE'], callbacks: tsr.Callback[] = [];
if (mode === 'stop-on-rank-1') callbacks.push({ onEpochEnd: (epoch) => { if (rank === 1 && epoch === 0) model.stopTraining = true; stoppedAt = epoch; } });
// a rank that dies mid-epoch, as a crash or an OOM kill would take it
if (mode === 'die-mid-epoch') callbacks.push({ onBatchEnd: (batch) => { if (rank === 1 && batch === 3) process.kill(process.pid, 'SIGKILL'); } });
const files = dir && !resume ? [tsr.callbacks.csvLogger(`${dir}/log.csv`), new tsr.ModelCheckpoint({ dir: `${dir}/ckpt`, includeOptimizer: true })] : [];
const bucketMB = process.env['TESSERA_TEST_BUCKET_MB'], bucket = bucketMB ? { distributed: { bucketMB: Number(bucketMB) } } : {};
// a rank that leaves fit mid-epoch and lives on (an exception its own code caught): the others
// must fail at their next step's sums within the timeout; each rank's error and when it came go in the result
let leftAt = 0;
if (mode === 'leave-mid-epoch') callbacks.push({ onBatchEnd: (batch) => { if (rank === 1 && batch === 3) { leftAt = Date.now(); throw new Error('rank 1 leaves'); } } });
const fitting = model.fit(x, y, { epochs: resume ? 3 : 2, initialEpoch: resume ? 2 : 0, batchSize: 64 / worldSize, seed: 3, verbose: 0, ...bucket, callbacks: [...callbacks, ...files] });
if (mode === 'leave-mid-epoch') {
  const error = await fitting.then(() => null, (e: Error) => e.message);
  writeFileSync(join(process.env['TESSERA_TEST_OUT'] ?? tmpdir(), `rank-${rank}.json`), JSON.stringify({ rank, error, leftAt, failedAt: Date.now() }));
  // rank 1 stays in the job well past rank 0's timeout, so only the timeout can end rank 0's
  // wait (rank 0 then leaves without MPI_Finalize, and mpirun ends the job)
  if (rank === 1) await new Promise((resolve) => setTimeout(resolve, 3000 + 1000 * Number(process.env['TESSERA_TEST_TIMEOUT'] ?? 30)));
  process.exit(0);
}
const history = await fitting;
const steps = model.lastStepStats;
const copies = model.getWeights(), weights = await Promise.all(copies.map(async (w) => [...await w.data()]));
for (const w of copies) w.dispose();
// after the weights are read: in the steady state (after one more epoch), an epoch must leave as
// many live tensors as it found, and drop none for the GC to free
let leaked: number | null = null, collected: number | null = null;
if (!dir && !mode) {
  const [xs, ys] = [x.slice([[0, 320]]), y.slice([[0, 320]])];
  const epoch = () => model.fit(xs, ys, { epochs: 1, batchSize: 64 / worldSize, verbose: 0, ...bucket });
  await epoch();
  // counted once collected tensors are finalized, so the count says what the loop holds, not when the GC last ran
  const before = await settledMemory();
  await epoch();
  const after = await settledMemory();
  [leaked, collected] = [after.numTensors - before.numTensors, after.numCollected - before.numCollected];
}
const fakeNccl = process.env['TESSERA_TEST_FAKE_NCCL'], koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
const ncclCalls = fakeNccl ? koffi.load(fakeNccl).func('int fake_nccl_calls()')() as number : null;
// the fake CUDA's two streams: how often the collectives' stream waited for the compute stream and
// the other way round, and the sums still queued (never used: each must be waited for)
const fakeCuda = fakeNccl ? koffi.load(`${process.env['TESSERA_CUDA_PATH']}/lib64/libcuda.so.1`) : null;
const streams = fakeCuda ? { waitsForCompute: fakeCuda.func('int fake_stream_waits(int)')(0) as number, waitsForSums: fakeCuda.func('int fake_stream_waits(int)')(1) as number, pending: fakeCuda.func('int fake_comm_pending()')() as number } : null;
// one file per rank: mpirun may interleave long lines that two ranks print at once
writeFileSync(join(process.env['TESSERA_TEST_OUT'] ?? tmpdir(), `rank-${rank}.json`), JSON.stringify({ rank, worldSize, weights, history: history.history, epochs: history.epoch.length, stoppedAt, steps, ncclCalls, streams, leaked, collected }));
tsr.distributed.shutdown();
