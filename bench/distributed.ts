// Allreduce through tsr.distributed against MPI_Allreduce called directly from C (the same Open
// MPI, the same 2 ranks, the same sizes), in one run: GB/s of each and tessera's overhead.
//   npm run build && node dist/bench/distributed.js   (needs openmpi-bin and mpicc: libopenmpi-dev)
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { header, pad } from './harness.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const SIZES = [1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24];
const MPIRUN = ['--allow-run-as-root', '--oversubscribe', '-np', '2'];

function run(command: string, args: string[]): Map<number, number> {
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, OMPI_MCA_btl_vader_single_copy_mechanism: 'none' } });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return new Map(r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]));
}

console.log(header('allreduce: tsr.distributed vs MPI_Allreduce from C (Open MPI, 2 ranks on this machine)'));
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
