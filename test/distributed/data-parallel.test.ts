// Data parallelism in a loop of one's own: two ranks at batch 32 each, with syncModel and
// allReduceGradients, end with the weights of one process at batch 64 (20 Adam steps, 1e-5);
// ranks that built different models fail at the start, naming the weight where they part; and
// how gradients are grouped into buckets, and when a bucket may travel on a worker thread.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mpirun, noMpirun } from '../helpers/mpirun.js';
import { cpus } from 'node:os';
import { gradientBuckets } from '../../src/distributed/data-parallel.js';
import * as tsr from '../../src/index.js';

const main = fileURLToPath(new URL('./ddp-main.js', import.meta.url));
const skip = noMpirun;
const twoRanks = (env: Record<string, string> = {}) => mpirun(2, [process.execPath, main], env);
const lines = (out: string) => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { rank: number; weights?: number[][]; losses?: number[]; error?: string });

it('two ranks at batch 32 end with the weights of one process at batch 64 after 20 Adam steps', { skip, timeout: 150_000 }, () => {
  const one = spawnSync(process.execPath, [main], { encoding: 'utf8' });
  assert.equal(one.status, 0, one.stderr);
  const two = twoRanks();
  assert.equal(two.status, 0, two.stdout + two.stderr);
  const [alone] = lines(one.stdout), [rank0] = lines(two.stdout);
  assert.ok(alone?.weights && rank0?.weights, two.stdout);
  let worst = 0;
  alone.weights.forEach((w, i) => w.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - rank0.weights![i]![j]!)); }));
  assert.ok(worst < 1e-5, `max |two ranks - one process| = ${worst}`);
  // and training moved them: the loss fell
  assert.ok(alone.losses![19]! < alone.losses![0]!, `losses ${alone.losses}`);
});

it('ranks that built different models fail at syncModel, naming the first weight that differs', { skip, timeout: 150_000 }, () => {
  const r = lines(twoRanks({ TESSERA_TEST_MODE: 'different-models' }).stdout);
  assert.equal(r.length, 2);
  for (const { rank, error } of r) {
    const other = 1 - rank;
    const mine = rank === 1 ? '[8, 17]' : '[8, 16]', theirs = rank === 1 ? '[8, 16]' : '[8, 17]';
    assert.equal(error, `syncModel: the ranks built different models (weight 1: rank ${rank} has dense_1.kernel ${mine} float32, rank ${other} has dense_1.kernel ${theirs} float32); every rank must build the same model before training`);
  }
});

it('gradient buckets: reverse parameter order, about the bucket size each, a gradient of 256 KiB or more alone', () => {
  const p = (floats: number) => tsr.zeros([floats]);
  // the CNN's shape: small convolution weights first, a 1.6 MB dense kernel, then small ones
  const params = [p(288), p(32), p(18432), p(64), p(401408), p(128), p(1280), p(10)];
  const sizes = (buckets: tsr.Tensor[][]) => buckets.map((b) => b.map((t) => params.indexOf(t)));
  assert.deepEqual(sizes(gradientBuckets(params)), [[7, 6, 5], [4], [3, 2, 1, 0]]);
  // 8 KiB buckets: the same order, cut where the next would not fit
  assert.deepEqual(sizes(gradientBuckets(params, 8192)), [[7, 6, 5], [4], [3], [2], [1, 0]]);
  params.forEach((t) => t.dispose());
  // the MLP's: its 392 KiB kernel alone, the rest together
  const mlp = [p(100352), p(128), p(1280), p(10)];
  assert.deepEqual(gradientBuckets(mlp).map((b) => b.map((t) => mlp.indexOf(t))), [[3, 2, 1], [0]]);
  mlp.forEach((t) => t.dispose());
});

it('a bucket travels on a worker thread only where this process has a core its compute leaves free', () => {
  /** coreToSpare for a CPU and a CUDA step, in a process with `env` (pinned to core 0 by taskset with `pinned`) */
  const spare = (env: Record<string, string>, pinned = false) => {
    const code = `import('${new URL('../../src/distributed/buckets.js', import.meta.url).href}').then((m) => console.log(JSON.stringify([m.coreToSpare('cpu'), m.coreToSpare('cuda')])))`;
    const node = [process.execPath, '--input-type=module', '-e', code];
    const [command, ...args] = pinned ? ['taskset', '-c', '0', ...node] : node;
    const r = spawnSync(command!, args, { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1', ...env } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as [boolean, boolean];
  };
  const machine = cpus().length;
  // alone with one BLAS thread: every other core is free
  assert.deepEqual(spare({}), [machine > 1, machine > 1]);
  // as many processes on the machine as cores: each one's share is its compute's
  assert.deepEqual(spare({ OMPI_COMM_WORLD_LOCAL_SIZE: String(machine) }), [false, false]);
  // bound to one core (as mpirun binds two ranks): nothing to spare
  if (machine > 1 && spawnSync('taskset', ['--version']).status === 0) assert.deepEqual(spare({}, true), [false, false]);
});
