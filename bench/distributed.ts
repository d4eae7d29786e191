// Data parallelism on this machine, in one run: training samples/s of 2 ranks x 1 BLAS thread
// against 1 process x 1 thread and 1 process x 2 threads (MLP batch 256, CNN batch 64 per
// process), with the scaling efficiency; and allreduce through tsr.distributed against
// MPI_Allreduce called directly from C (the same Open MPI, 2 ranks, the same sizes).
//   npm run build && node dist/bench/distributed.js   (needs openmpi-bin and mpicc: libopenmpi-dev)
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MPI_ENV, MPI_FLAGS, mpirun } from '../test/helpers/mpirun.js';
import { header, pad } from './harness.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const SIZES = [1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24];
const MPIRUN = [...MPI_FLAGS, '-np', '2'];

function run(command: string, args: string[]): Map<number, number> {
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...MPI_ENV } });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return new Map(r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]));
}

console.log(header('data parallelism: 2 ranks against 1 process; allreduce against MPI_Allreduce from C (Open MPI)'));

/** The job's samples/s of fit, `ranks` processes of `threads` BLAS threads each. */
function fitSpeed(ranks: number, threads: number, kind: string, batch: number, steps: number): number {
  const args = [here('./distributed-fit-rank.js'), kind, String(batch), String(steps)];
  const threadEnv = { OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  const r = ranks === 1
    ? spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...threadEnv } })
    : mpirun(ranks, [process.execPath, ...args], threadEnv, ['-x', 'OPENBLAS_NUM_THREADS', '-x', 'OMP_NUM_THREADS']);
  if (r.status !== 0) throw new Error(`${kind} on ${ranks} x ${threads} failed:\n${r.stdout}${r.stderr}`);
  return Number(r.stdout.trim().split('\n').pop());
}

console.log(`\n${'workload'.padEnd(22)}${pad('1 x 1 thread', 14)}${pad('1 x 2 threads', 15)}${pad('2 ranks x 1', 13)}${pad('efficiency', 12)}${pad('vs 1 x 2', 10)}`);
for (const [kind, batch, steps] of [['mlp', 256, 150], ['cnn', 64, 40]] as const) {
  const one = fitSpeed(1, 1, kind, batch, steps), oneTwo = fitSpeed(1, 2, kind, batch, steps), two = fitSpeed(2, 1, kind, batch, steps);
  console.log(`${`${kind} batch ${batch}/process`.padEnd(22)}${pad(one.toFixed(0), 14)}${pad(oneTwo.toFixed(0), 15)}${pad(two.toFixed(0), 13)}${pad(`${(two / (2 * one) * 100).toFixed(0)}%`, 12)}${pad(`${(two / oneTwo).toFixed(2)}x`, 10)}`);
}
console.log('samples/s of the whole job; efficiency = 2 ranks / (2 x one process of one thread) (goal >= 90% for the CNN)');
console.log('(one process runs compiled steps; data-parallel steps run eagerly, with the gradient allreduce after backward)');
const exe = join(mkdtempSync(join(tmpdir(), 'tessera-allreduce-')), 'allreduce');
const cc = spawnSync('mpicc', ['-O2', '-o', exe, here('../../bench/allreduce.c')], { encoding: 'utf8' });
if (cc.status !== 0) throw new Error(`mpicc failed (install libopenmpi-dev):\n${cc.stderr}`);
const c = run('mpirun', [...MPIRUN, exe, ...SIZES.map(String)]);
const ours = run('mpirun', [...MPIRUN, process.execPath, here('./distributed-rank.js'), ...SIZES.map(String)]);
console.log(`\n${'floats'.padEnd(10)}${pad('C ms', 10)}${pad('C GB/s', 9)}${pad('tessera ms', 12)}${pad('tessera GB/s', 14)}${pad('overhead', 10)}`);
for (const n of SIZES) {
  const tc = c.get(n)!, tt = ours.get(n)!, gb = (s: number) => (n * 4 / s / 1e9).toFixed(2);
  console.log(`${String(n).padEnd(10)}${pad((tc * 1e3).toFixed(3), 10)}${pad(gb(tc), 9)}${pad((tt * 1e3).toFixed(3), 12)}${pad(gb(tt), 14)}${pad(`${((tt / tc - 1) * 100).toFixed(0)}%`, 10)}`);
}
console.log('\nGB/s = the buffer\'s bytes over the time per call; overhead = tessera\'s time over C\'s, minus 1 (goal <= 10%)');
