// Data-parallel fit: under mpirun each rank trains on its shard of each epoch's shuffle, from
// rank 0's weights, with gradients and logs averaged over the job. Two ranks at batch 32 end
// where one process at batch 64 does; a stop on one rank stops all; rank 0 alone writes the CSV
// log and the checkpoint, which resumes under two ranks as it does in one process.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpirun, noMpirun } from '../helpers/mpirun.js';
import * as tsr from '../../src/index.js';

const main = fileURLToPath(new URL('./fit-main.js', import.meta.url));
const skip = noMpirun;
type Run = { rank: number; worldSize: number; weights: number[][]; history: Record<string, number[]>; epochs: number; steps: tsr.CompileStats | null; leaked: number | null; collected: number | null };
/** Each rank's result, from the file it wrote in `out`. */
const results = (out: string, ranks: number) => Array.from({ length: ranks }, (_, r) => JSON.parse(readFileSync(join(out, `rank-${r}.json`), 'utf8')) as Run);

function alone(extra: Record<string, string> = {}): Run {
  const out = mkdtempSync(join(tmpdir(), 'tessera-fit-'));
  const r = spawnSync(process.execPath, ['--expose-gc', main], { encoding: 'utf8', env: { ...process.env, TESSERA_TEST_OUT: out, ...extra } });
  assert.equal(r.status, 0, r.stderr);
  return results(out, 1)[0]!;
}
function twoRanks(extra: Record<string, string> = {}): Run[] {
  const out = mkdtempSync(join(tmpdir(), 'tessera-fit-'));
  const r = mpirun(2, [process.execPath, '--expose-gc', main], { TESSERA_TEST_OUT: out, ...extra });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return results(out, 2);
}
const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((w, i) => w.map((v, j) => Math.abs(v - b[i]![j]!))));

// the SGD runs with overlap on (TESSERA_DIST_OVERLAP=1: as on a rank with a core to spare), so
// each bucket starts as soon as backward has made it, in the compiled step's replay too
for (const [jit, sgd] of [[true, false], [false, false], [true, true], [false, true]]) {
  const overlap = sgd;
  const how = `${jit ? 'compiled' : 'eager'} steps, ${overlap ? `each bucket started as backward makes it${jit ? ', inside the replay' : ''}` : `the buckets summed after backward${jit ? ', inside the step\'s one plan' : ''}`}`;
  it(`two ranks at batch 32 end with the weights and logs of one process at batch 64 (20 ${sgd ? 'SGD' : 'Adam'} steps, shuffled; ${how})`, { skip, timeout: 150_000 }, () => {
    // buckets of 200 bytes: the 195 weights of the model travel in 4 buckets (12, 192, 64 and 512 bytes)
    const mode = { TESSERA_TEST_JIT: jit ? '1' : '0', TESSERA_TEST_SGD: sgd ? '1' : '0' };
    const one = alone(mode), [r0, r1] = twoRanks({ ...mode, TESSERA_TEST_BUCKET_MB: String(200 / 2 ** 20), TESSERA_DIST_OVERLAP: overlap ? '1' : '0' });
    assert.equal(r0!.worldSize, 2);
    assert.ok(maxDiff(one.weights, r0!.weights) < 1e-5, `max |two ranks - one process| = ${maxDiff(one.weights, r0!.weights)}`);
    assert.equal(maxDiff(r0!.weights, r1!.weights), 0, 'the ranks hold the same weights');
    for (const key of ['loss', 'accuracy']) {
      one.history[key]!.forEach((v, e) => assert.ok(Math.abs(v - r0!.history[key]![e]!) < 1e-5, `${key} of epoch ${e + 1}: ${v} vs ${r0!.history[key]![e]}`));
      assert.deepEqual(r0!.history[key], r1!.history[key], `every rank logs the job's ${key}`);
    }
    assert.deepEqual([one.leaked, r0!.leaked, r1!.leaked], [0, 0, 0], 'an epoch leaves no tensors behind');
    assert.deepEqual([one.collected, r0!.collected, r1!.collected], [0, 0, 0], 'an epoch drops no tensor for the GC');
    // 10 steps an epoch: the first two of each run eagerly (made, then captured), the rest replay
    if (jit) {
      assert.ok(r0!.steps && r0!.steps.replays >= 16 && r0!.steps.fallbacks.length === 0, `the data-parallel step replays its plan: ${JSON.stringify(r0!.steps)}`);
      // each bucket handed to its reduction at its point of the gradients' replay; or one plan
      // of gradients, every bucket's sum (one host step) and update
      assert.match(r0!.steps.how, overlap ? /around 4 host steps$/ : /in 2 parts around 1 host step$/);
    } else assert.equal(r0!.steps, null);
  });
}

it('data parallelism forced on in a world of one (distributed: {...}) trains as plain fit does, and leaks nothing', () => {
  for (const jit of ['1', '0']) {
    const plain = alone({ TESSERA_TEST_JIT: jit, TESSERA_TEST_SGD: '1' }), forced = alone({ TESSERA_TEST_JIT: jit, TESSERA_TEST_SGD: '1', TESSERA_TEST_BUCKET_MB: String(200 / 2 ** 20) });
    assert.equal(forced.worldSize, 1);
    assert.ok(maxDiff(plain.weights, forced.weights) < 1e-6, `jit ${jit}: max |forced - plain| = ${maxDiff(plain.weights, forced.weights)}`);
    assert.deepEqual([forced.leaked, forced.collected], [0, 0], `jit ${jit}: an epoch leaves no tensors behind and drops none for the GC`);
  }
});

it('a callback that stops training on one rank stops every rank at the same epoch', { skip, timeout: 150_000 }, () => {
  assert.deepEqual(twoRanks({ TESSERA_TEST_MODE: 'stop-on-rank-1' }).map((r) => r.epochs), [1, 1]);
});

it('rank 0 alone writes the CSV log and the checkpoint, which resumes under two ranks as in one process', { skip, timeout: 150_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ddp-'));
  twoRanks({ TESSERA_TEST_DIR: dir });
  const csv = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 3, `one header and one row per epoch, written once:\n${csv.join('\n')}`);
  const [r0] = twoRanks({ TESSERA_TEST_DIR: dir, TESSERA_TEST_RESUME: '1' });
  const one = alone({ TESSERA_TEST_DIR: dir, TESSERA_TEST_RESUME: '1' });
  assert.ok(maxDiff(one.weights, r0!.weights) < 1e-5, `resumed: max |two ranks - one process| = ${maxDiff(one.weights, r0!.weights)}`);
  assert.equal(r0!.epochs, 1);
});

it('a rank killed mid-epoch ends the job within seconds, naming the rank, never a hang', { skip, timeout: 150_000 }, () => {
  const t = performance.now();
  const r = mpirun(2, [process.execPath, '--expose-gc', main], { TESSERA_TEST_MODE: 'die-mid-epoch', TESSERA_TEST_OUT: mkdtempSync(join(tmpdir(), 'tessera-fit-')) });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /process rank 1 .*exited on signal 9/);
  assert.ok(performance.now() - t < 60_000, `the job took ${Math.round(performance.now() - t)} ms to end`);
});

it('a rank that leaves fit mid-epoch and lives on makes the others fail at their next step within the timeout, naming the wait', { skip, timeout: 150_000 }, () => {
  for (const jit of ['1', '0']) {
    const out = mkdtempSync(join(tmpdir(), 'tessera-fit-'));
    mpirun(2, [process.execPath, main], { TESSERA_TEST_MODE: 'leave-mid-epoch', TESSERA_TEST_TIMEOUT: '3', TESSERA_TEST_JIT: jit, TESSERA_DIST_OVERLAP: '0', TESSERA_TEST_OUT: out });
    const [r0, r1] = [0, 1].map((r) => JSON.parse(readFileSync(join(out, `rank-${r}.json`), 'utf8')) as { error: string | null; leftAt: number; failedAt: number });
    assert.equal(r1!.error, 'rank 1 leaves');
    assert.match(r0!.error ?? 'no error', /allReduce \(checking that every rank made it\) on rank 0 of 2 waited 3 s for the other ranks/, `jit ${jit}`);
    const waited = r0!.failedAt - r1!.leftAt;
    assert.ok(waited >= 2500 && waited < 20_000, `jit ${jit}: rank 0 failed ${waited} ms after rank 1 left`);
  }
});

it('mpirun -np 2 tessera train trains data-parallel: one report, the job\'s processes and global batch', { skip, timeout: 150_000 }, () => {
  const bin = fileURLToPath(new URL('../../../bin/tessera.js', import.meta.url));
  const sample = fileURLToPath(new URL('../../../data/fashion-mnist-sample', import.meta.url));
  const r = mpirun(2, [process.execPath, bin, 'train', '--epochs', '1', '--json', '--data', sample]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const reports = r.stdout.split('\n').filter((l) => l.startsWith('{'));
  assert.equal(reports.length, 1, 'rank 0 alone reports');
  assert.ok(JSON.parse(reports[0]!).testAccuracy > 0.7);
  assert.equal(r.stderr.match(/^job: 2 processes x cpu \(Open MPI, Open MPI v[\d.]+\), global batch 64 \(32 per process\)$/gm)?.length, 1, r.stderr);
});

it('fit checks the distributed option before training', async () => {
  const model = tsr.sequential([tsr.layers.dense({ units: 2, inputShape: [3] })]);
  model.compile({ optimizer: 'sgd', loss: 'mse' });
  const x = tsr.zeros([4, 3]), y = tsr.zeros([4, 2]);
  await assert.rejects(model.fit(x, y, { distributed: { bucketMB: 0 }, verbose: 0 }), /distributed\.bucketMB must be a finite number > 0, got 0/);
  await assert.rejects(model.fit(x, y, { distributed: { bucketMb: 1 } as never, verbose: 0 }), /bucketMb/);
  await assert.rejects(model.fit(x, y, { distributed: 'yes' as never, verbose: 0 }), /distributed/);
});
