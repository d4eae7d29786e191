// tsr.distributed over MPICH, whose ABI (shared by Intel MPI, MVAPICH and Cray MPICH) differs
// from Open MPI's: handles are integers, MPI_IN_PLACE is -1. Under mpiexec.mpich two ranks run
// every collective on every dtype, mismatched or missing calls fail as under Open MPI, a killed
// rank ends the job, and data-parallel fit (both step kinds: eager buckets travel on a worker
// thread, compiled ones on this one) ends where one process does. Every job here runs two ranks
// of Node.js over UCX, which crashed 1 run in ~75 until tessera turned UCX's memory hooks off
// (mpi.ts).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAUNCHERS, launch } from '../helpers/mpirun.js';

const rankMain = fileURLToPath(new URL('./rank-main.js', import.meta.url));
const fitMain = fileURLToPath(new URL('./fit-main.js', import.meta.url));
const skip = LAUNCHERS.mpich.missing;

type Report = { rank: number; worldSize: number; ok: boolean; error?: string; launcher?: string | null; mpi?: { path: string; version: string } | null; ucxMemEvents?: string };
const reportsOf = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Report).sort((a, b) => a.rank - b.rank);

it('launched by MPICH with no MPI library: the error says to install MPICH', () => {
  const r = spawnSync(process.execPath, [rankMain], { encoding: 'utf8', env: { ...process.env, PMI_RANK: '0', PMI_SIZE: '2', TESSERA_MPI_LIBRARY: '/nonexistent/libmpich.so' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /distributed: MPICH started this process as rank 0 of 2, but no MPICH library found \(tried \/nonexistent\/libmpich.so\); install MPICH \(Debian\/Ubuntu: `apt install mpich`\)/);
});

it('launched by MPICH but given Open MPI\'s library: the error names the library and its ABI', { skip: LAUNCHERS.openmpi.missing }, () => {
  const r = spawnSync(process.execPath, [rankMain], { encoding: 'utf8', env: { ...process.env, PMI_RANK: '1', PMI_SIZE: '2', TESSERA_MPI_LIBRARY: 'libmpi.so.40' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /no MPICH library found \(tried libmpi\.so\.40 \(Open MPI v[\d.]+, not MPICH\)\); install MPICH/);
});

it('two MPICH ranks: allReduce (sum, mean, max), broadcast and allGather on every dtype, and barrier', { skip, timeout: 150_000 }, () => {
  const r = launch(LAUNCHERS.mpich, 2, [process.execPath, rankMain], { TESSERA_DIST_OVERLAP: '1' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const reports = reportsOf(r.stdout);
  assert.deepEqual(reports.map((x) => [x.rank, x.worldSize, x.ok, x.launcher]), [[0, 2, true, 'MPICH'], [1, 2, true, 'MPICH']], r.stdout + r.stderr);
  assert.match(reports[0]!.mpi!.version, /^MPICH \d/);
  // UCX's memory hooks off (they crashed Node.js), unless the user chose
  if (process.env['UCX_MEM_EVENTS'] === undefined) assert.deepEqual(reports.map((x) => x.ucxMemEvents), ['no', 'no']);
});

it('MPICH ranks that call a collective on different shapes all fail, naming what each rank asked', { skip, timeout: 150_000 }, () => {
  const r = launch(LAUNCHERS.mpich, 2, [process.execPath, rankMain], { TESSERA_TEST_MODE: 'mismatch' });
  const reports = reportsOf(r.stdout);
  assert.equal(reports.length, 2, r.stdout + r.stderr);
  for (const x of reports) assert.equal(x.error, 'distributed: allReduce: the ranks made different calls (rank 0: allReduce of float32 [3] (sum); rank 1: allReduce of float32 [4] (sum)); every rank must call the same collective on the same shape and dtype');
});

it('a collective one MPICH rank never makes fails on the other within the timeout, never a hang', { skip, timeout: 150_000 }, () => {
  const t = performance.now();
  const r = launch(LAUNCHERS.mpich, 2, [process.execPath, rankMain], { TESSERA_TEST_MODE: 'one-rank', TESSERA_TEST_TIMEOUT: '3' });
  const first = reportsOf(r.stdout).find((x) => x.rank === 0);
  assert.ok(first, r.stdout + r.stderr);
  assert.match(first.error!, /distributed: barrier \(checking that every rank made it\) on rank 0 of 2 waited 3 s for the other ranks/);
  assert.ok(performance.now() - t < 60_000, `the job took ${Math.round(performance.now() - t)} ms`);
});

it('an MPICH rank killed mid-epoch ends the job within seconds (Hydra names its pid and signal)', { skip, timeout: 150_000 }, () => {
  const t = performance.now();
  const r = launch(LAUNCHERS.mpich, 2, [process.execPath, '--expose-gc', fitMain], { TESSERA_TEST_MODE: 'die-mid-epoch', TESSERA_TEST_OUT: mkdtempSync(join(tmpdir(), 'tessera-mpich-')) });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES\s+=\s+PID \d+ RUNNING AT \S+\s+=\s+EXIT CODE: 9\b/);
  assert.ok(performance.now() - t < 60_000, `the job took ${Math.round(performance.now() - t)} ms to end`);
});

for (const jit of [true, false]) {
  it(`two MPICH ranks at batch 32 end with the weights of one process at batch 64 (20 SGD steps, ${jit ? 'compiled' : 'eager'})`, { skip, timeout: 150_000 }, () => {
    const mode = { TESSERA_TEST_JIT: jit ? '1' : '0', TESSERA_TEST_SGD: '1' };
    const weightsOf = (out: string, rank: number) => (JSON.parse(readFileSync(join(out, `rank-${rank}.json`), 'utf8')) as { weights: number[][] }).weights;
    const aloneOut = mkdtempSync(join(tmpdir(), 'tessera-mpich-')), jobOut = mkdtempSync(join(tmpdir(), 'tessera-mpich-'));
    const one = spawnSync(process.execPath, ['--expose-gc', fitMain], { encoding: 'utf8', env: { ...process.env, ...mode, TESSERA_TEST_OUT: aloneOut } });
    assert.equal(one.status, 0, one.stderr);
    // 200-byte buckets: the model's 195 weights travel in 4 reductions a step
    const two = launch(LAUNCHERS.mpich, 2, [process.execPath, '--expose-gc', fitMain], { ...mode, TESSERA_TEST_OUT: jobOut, TESSERA_TEST_BUCKET_MB: String(200 / 2 ** 20) });
    assert.equal(two.status, 0, two.stdout + two.stderr);
    const [a, r0, r1] = [weightsOf(aloneOut, 0), weightsOf(jobOut, 0), weightsOf(jobOut, 1)];
    const maxDiff = (x: number[][], y: number[][]) => Math.max(...x.flatMap((w, i) => w.map((v, j) => Math.abs(v - y[i]![j]!))));
    assert.ok(maxDiff(a, r0) < 1e-5, `max |two ranks - one process| = ${maxDiff(a, r0)}`);
    assert.equal(maxDiff(r0, r1), 0, 'the ranks hold the same weights');
  });
}

it('mpiexec -n 2 tessera train trains data-parallel under MPICH: one report, the job named', { skip, timeout: 150_000 }, () => {
  const bin = fileURLToPath(new URL('../../../bin/tessera.js', import.meta.url));
  const sample = fileURLToPath(new URL('../../../data/fashion-mnist-sample', import.meta.url));
  const r = launch(LAUNCHERS.mpich, 2, [process.execPath, bin, 'train', '--epochs', '1', '--json', '--data', sample]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('{')).length, 1, 'rank 0 alone reports');
  assert.match(r.stderr, /^job: 2 processes x cpu \(MPICH, MPICH [\d.]+\), global batch 64 \(32 per process\)$/m);
});
