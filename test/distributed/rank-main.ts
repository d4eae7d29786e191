// One rank of the collectives test (collectives.test.ts starts it under mpirun; alone it is a
// world of one). Each rank checks every collective against what the rank formula says and
// prints one JSON line; the modes 'mismatch' and 'one-rank' make the mistakes the errors name.
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { BucketReduction } from '../../src/distributed/buckets.js';
import { ready } from '../../src/distributed/job.js';

const mode = process.env['TESSERA_TEST_MODE'] ?? 'collectives';
const info = tsr.distributed.init({ timeoutSeconds: Number(process.env['TESSERA_TEST_TIMEOUT'] ?? 30) });
const { rank: r, worldSize: w } = info;
const values = async (t: Promise<tsr.Tensor>) => [...await (await t).data()].map((v) => Number(v) + 0);  // + 0: -0 reads as 0

async function collectives(): Promise<Record<string, unknown>> {
  // polling before any nonblocking call has started finds nothing in flight (MPI_Test on the empty slot would crash)
  if (w > 1) assert.equal(ready().mpi!.done(), true);
  for (const dtype of ['float32', 'float16', 'bfloat16', 'int32'] as const) {
    const x = tsr.tensor([r + 1, 2 * (r + 1), -r], { dtype });
    assert.deepEqual(await values(tsr.distributed.allReduce(x, 'sum')), [w * (w + 1) / 2, w * (w + 1), -(w * (w - 1) / 2) + 0], `${dtype} sum`);
    assert.deepEqual(await values(tsr.distributed.allReduce(x, 'max')), [w, 2 * w, 0], `${dtype} max`);
    if (dtype !== 'int32') assert.deepEqual(await values(tsr.distributed.allReduce(x, 'mean')), [(w + 1) / 2, w + 1, -((w - 1) / 2) + 0], `${dtype} mean`);
    // in place: the tensor itself holds the result (strided ones and half formats take a copy's way)
    const mine = () => tsr.tensor([[r + 1, 10], [2 * (r + 1), 10]], { dtype });
    for (const t of [mine(), mine().transpose()]) {
      const before = [...await t.data()].map(Number);
      const reduced = await tsr.distributed.allReduce(t, 'sum', { inPlace: true });
      assert.equal(reduced, t, `${dtype} inPlace returns the tensor`);
      assert.deepEqual(await values(Promise.resolve(t)), before.map((v) => (v === 10 ? 10 * w : v / (r + 1) * w * (w + 1) / 2)), `${dtype} inPlace sum`);
    }
    const sent = tsr.tensor([[r * 10, r * 10 + 1]], { dtype });
    assert.deepEqual(await values(tsr.distributed.broadcast(sent, w - 1)), [(w - 1) * 10, (w - 1) * 10 + 1], `${dtype} broadcast`);
    const gathered = await tsr.distributed.allGather(tsr.tensor([r, r + 2], { dtype }));
    assert.deepEqual(gathered.shape, [w, 2]);
    assert.equal(gathered.dtype, dtype);
    assert.deepEqual([...await gathered.data()].map(Number), Array.from({ length: w }, (_, k) => [k, k + 2]).flat(), `${dtype} allGather`);
  }
  const flag = tsr.tensor([r === 0, false], { dtype: 'bool' });
  assert.deepEqual(await values(tsr.distributed.allReduce(flag, 'max')), [1, 0], 'bool or');
  assert.deepEqual(await values(tsr.distributed.allGather(flag)), Array.from({ length: w }, (_, k) => [k === 0 ? 1 : 0, 0]).flat(), 'bool allGather');
  // a large one, past any eager-send threshold
  const big = tsr.full([1 << 20], r + 1);
  const sum = await (await tsr.distributed.allReduce(big)).data();
  assert.ok(sum.every((v) => v === w * (w + 1) / 2));
  await tsr.distributed.allReduce(big, 'mean', { inPlace: true });
  assert.ok((await big.data()).every((v) => v === (w + 1) / 2), 'a large mean in place');
  // with overlap on (the tests set TESSERA_DIST_OVERLAP=1), a bucket's reduction starts when its
  // tensors are given (backward still going), not in finish
  const bucket = tsr.tensor([r + 1, 1]);
  const reduction = await BucketReduction.begin([2], 'sum', { overlap: true });
  reduction.ready(0, [bucket], { consume: true });
  assert.deepEqual([...bucket.dataSync()], [w * (w + 1) / 2, w], 'a bucket summed as soon as given');
  assert.equal((await reduction.finish())[0]![0], bucket, 'a consumed bucket is its own sum');
  // a large one on MPI's worker thread, in place
  const large = tsr.full([1 << 17], r + 1), onWorker = await BucketReduction.begin([1 << 17], 'sum', { overlap: true });
  onWorker.ready(0, [large], { consume: true });
  await onWorker.finish();
  assert.ok(large.dataSync().every((v) => v === w * (w + 1) / 2), 'a large bucket summed on the worker');
  await tsr.distributed.barrier();
  // stats: one call per collective; rank 1 comes 300 ms late, which rank 0 spends waiting at the check
  const before = tsr.distributed.stats();
  if (r === 1) await new Promise((resolve) => setTimeout(resolve, 300));
  await tsr.distributed.allReduce(big, 'sum', { inPlace: true });
  const after = tsr.distributed.stats();
  assert.equal(after.calls - before.calls, w > 1 ? 1 : 0, 'one collective counted');
  if (w > 1) {
    assert.ok(r === 0 ? after.waitMs - before.waitMs >= 250 : after.waitMs - before.waitMs < 250, `rank ${r} waited ${after.waitMs - before.waitMs} ms`);
    assert.ok(after.transferMs > before.transferMs, 'time in MPI_Allreduce counted');
  }
  // what loading MPI set for UCX (absent in a world of one)
  return { ucxMemEvents: process.env['UCX_MEM_EVENTS'] };
}

async function run(): Promise<Record<string, unknown>> {
  if (mode === 'mismatch') {
    // rank 0 sums 3 numbers, the others 4
    await tsr.distributed.allReduce(tsr.ones([r === 0 ? 3 : 4]));
    return {};
  }
  if (mode === 'one-rank') {
    if (r === 0) await tsr.distributed.barrier();
    // the others wait past rank 0's timeout, then leave
    else await new Promise((done) => setTimeout(done, (Number(process.env['TESSERA_TEST_TIMEOUT']) + 3) * 1000));
    return {};
  }
  return collectives();
}

try {
  console.log(JSON.stringify({ rank: r, worldSize: w, localRank: info.localRank, launcher: info.launcher, mpi: info.mpi, ok: true, ...await run() }));
  tsr.distributed.shutdown();
} catch (e) {
  console.log(JSON.stringify({ rank: r, worldSize: w, ok: false, error: (e as Error).message }));
  // a rank stuck in a collective cannot finalise; leaving without it ends the job
  process.exit(mode === 'collectives' ? 1 : 0);
}
