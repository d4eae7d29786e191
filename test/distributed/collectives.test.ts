// tsr.distributed over Open MPI: two ranks under mpirun run every collective on every dtype
// (rank-main.ts checks the values, and gradient buckets, a large one on MPI's worker thread);
// different calls, and a call one rank never makes, fail with errors that say so within the
// timeout; a plain process is a world of one without MPI.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mpirun, noMpirun } from '../helpers/mpirun.js';
import { threadsPerProcess } from '../../src/backends/cpu/blas.js';

const rankMain = fileURLToPath(new URL('./rank-main.js', import.meta.url));
const skip = noMpirun;

type Report = { rank: number; worldSize: number; ok: boolean; error?: string; launcher?: string | null; mpi?: { version: string } | null };

function launch(ranks: number, env: Record<string, string> = {}): { reports: Report[]; status: number | null; ms: number; out: string } {
  const t = performance.now();
  const r = mpirun(ranks, [process.execPath, rankMain], env);
  const reports = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Report).sort((a, b) => a.rank - b.rank);
  return { reports, status: r.status, ms: performance.now() - t, out: r.stdout + r.stderr };
}

it('a process no launcher started is a world of one, without MPI', () => {
  const r = spawnSync(process.execPath, [rankMain], { encoding: 'utf8', env: { ...process.env, TESSERA_MPI_LIBRARY: '/nonexistent/libmpi.so' } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { rank: 0, worldSize: 1, localRank: 0, launcher: null, mpi: null, ok: true });
});

it('launched as one of two ranks with no MPI library: the error says what to install', () => {
  const r = spawnSync(process.execPath, [rankMain], { encoding: 'utf8', env: { ...process.env, OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', TESSERA_MPI_LIBRARY: '/nonexistent/libmpi.so' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /distributed: Open MPI started this process as rank 0 of 2, but no Open MPI library found \(tried \/nonexistent\/libmpi.so\); install Open MPI \(Debian\/Ubuntu: `apt install openmpi-bin libopenmpi3`\)/);
});

it('a launcher\'s world that MPI does not see (another MPI started it) fails naming both, and the way out', { skip }, () => {
  // Slurm's variables without srun: Open MPI starts as a world of one
  const r = spawnSync(process.execPath, [rankMain], { encoding: 'utf8', env: { ...process.env, SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_LOCALID: '0' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /distributed: Slurm says rank 0 of 2, but MPI says rank 0 of 1: was this process started by a different MPI than \S+\? \(TESSERA_MPI_LIBRARY names the launcher's own\)/);
});

it('two ranks: allReduce (sum, mean, max), broadcast and allGather on every dtype, and barrier', { skip, timeout: 150_000 }, () => {
  const { reports, status, out } = launch(2, { TESSERA_DIST_OVERLAP: '1' });
  assert.equal(status, 0, out);
  assert.deepEqual(reports.map((r) => [r.rank, r.worldSize, r.ok, r.launcher]), [[0, 2, true, 'Open MPI'], [1, 2, true, 'Open MPI']], out);
  assert.match(reports[0]!.mpi!.version, /^Open MPI v\d/);
});

it('ranks that call a collective on different shapes all fail, naming what each rank asked', { skip, timeout: 150_000 }, () => {
  const { reports, out } = launch(2, { TESSERA_TEST_MODE: 'mismatch' });
  assert.equal(reports.length, 2, out);
  for (const r of reports) {
    assert.equal(r.ok, false);
    assert.equal(r.error, 'distributed: allReduce: the ranks made different calls (rank 0: allReduce of float32 [3] (sum); rank 1: allReduce of float32 [4] (sum)); every rank must call the same collective on the same shape and dtype');
  }
});

it('a collective one rank never makes fails on the others within the timeout, never a hang', { skip, timeout: 150_000 }, () => {
  const { reports, ms, out } = launch(2, { TESSERA_TEST_MODE: 'one-rank', TESSERA_TEST_TIMEOUT: '3' });
  const first = reports.find((r) => r.rank === 0);
  assert.ok(first, out);
  assert.equal(first.ok, false);
  assert.match(first.error!, /distributed: barrier \(checking that every rank made it\) on rank 0 of 2 waited 3 s for the other ranks: one of them did not make this call/);
  assert.ok(ms < 60_000, `the job took ${Math.round(ms)} ms`);
});

it('tessera devices names the MPI library and the job, or why there is none', () => {
  const bin = fileURLToPath(new URL('../../../bin/tessera.js', import.meta.url));
  const missing = spawnSync(process.execPath, [bin, 'devices'], { encoding: 'utf8', env: { ...process.env, TESSERA_MPI_LIBRARY: '/nonexistent/libmpi.so', OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1' } });
  assert.equal(missing.status, 0, missing.stderr);
  assert.match(missing.stdout, /^mpi: unavailable {2}no Open MPI library found \(tried \/nonexistent\/libmpi.so\); install Open MPI/m);
  assert.match(missing.stdout, /^job: rank 1 of 4 \(local rank 1\), started by Open MPI$/m);
  if (!noMpirun) {
    const found = spawnSync(process.execPath, [bin, 'devices'], { encoding: 'utf8' });
    assert.match(found.stdout, /^mpi: Open MPI v\d+\.\d+\.\d+ \(.*libmpi\.so.*\)$/m);
    assert.match(found.stdout, /^job: a single process/m);
  }
});

it('processes of a job on one machine split its BLAS threads (unless OPENBLAS_NUM_THREADS says otherwise)', () => {
  const saved = { ...process.env };
  try {
    for (const k of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS', 'SLURM_NTASKS_PER_NODE']) delete process.env[k];
    assert.equal(threadsPerProcess(4), 4, 'a plain process keeps every thread');
    process.env['OMPI_COMM_WORLD_LOCAL_SIZE'] = '2';
    assert.equal(threadsPerProcess(4), 2);
    assert.equal(threadsPerProcess(2), 1);
    process.env['OMPI_COMM_WORLD_LOCAL_SIZE'] = '3';
    assert.equal(threadsPerProcess(2), 1, 'never below one');
    process.env['OPENBLAS_NUM_THREADS'] = '2';
    assert.equal(threadsPerProcess(2), 2, 'threads the user chose stay');
  } finally {
    process.env = saved;
  }
});
