// NCCL's glue under two ranks, against fakes: the fake CUDA (kernels run on the CPU) and a fake
// NCCL (test/fixtures/fake-nccl.c) whose ranks meet in shared memory named by the unique id,
// so a wrong by-value id, a wrong stream or dtype fails. Two ranks of data-parallel fit on the
// 'cuda' device sum their gradients through it and end where one process at twice the batch does;
// one process with data parallelism forced on uses a communicator of one.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpirun, noMpirun } from '../helpers/mpirun.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const main = fileURLToPath(new URL('./fit-main.js', import.meta.url));
const tessera = fileURLToPath(new URL('../../../bin/tessera.js', import.meta.url));
const gcc = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = noMpirun || (gcc ? false : 'gcc is needed to build the fake CUDA and NCCL libraries');
type Run = {
  weights: number[][]; ncclCalls: number | null; worldSize: number; leaked: number | null; collected: number | null;
  streams: { waitsForCompute: number; waitsForSums: number; pending: number } | null;
};
/** 20 steps of 4 buckets (of at most 200 bytes: the weights 12, 192, 64 and 512 bytes, last first), then the leak check's two epochs of 5 */
const STEPS = 20 + 2 * 5, BUCKETS = 4;
/** Each bucket summed on the collectives' stream once it waited for the compute stream, which waited once a step for the sums, all used. */
const STREAMS = { waitsForCompute: STEPS * BUCKETS, waitsForSums: STEPS, pending: 0 };

describe('NCCL for CUDA gradients, against a fake CUDA and a fake NCCL', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'tessera-fake-nccl-'));
  const nccl = join(root, 'libnccl.so.2');
  const env = {
    TESSERA_CUDA_PATH: root, TESSERA_CUDA_CACHE: join(root, 'cache'), TESSERA_CUDA_PRECISION: 'highest',
    TESSERA_FAKE_CUDA_SHIM: fixture('cuda-shim.h'), TESSERA_FAKE_CUDA_DIR: root, TESSERA_DISABLE_WEBGPU: '1',
    TESSERA_NCCL_LIBRARY: nccl, TESSERA_TEST_FAKE_NCCL: nccl, TESSERA_TEST_DEVICE: 'cuda', TESSERA_TEST_SGD: '1', OMP_WAIT_POLICY: 'passive',
  };
  before(() => {
    mkdirSync(join(root, 'lib64'));
    for (const name of ['libcuda.so.1', 'libnvrtc.so.12', 'libcublas.so.12', 'libcublasLt.so.12']) {
      const r = spawnSync('gcc', ['-shared', '-fPIC', '-O1', '-o', join(root, 'lib64', name), fixture('fake-cuda.c'), '-ldl'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    const r = spawnSync('gcc', ['-shared', '-fPIC', '-O1', '-o', nccl, fixture('fake-nccl.c'), '-lrt', '-ldl'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('tessera devices lists the NCCL it found, with its version', () => {
    const r = spawnSync(process.execPath, [tessera, 'devices'], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`nccl: 2\\.23\\.4 \\(${nccl.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`));
  });

  /** fit-main's result in one process on cuda (`extra`: more environment). */
  const oneProcess = (extra: Record<string, string> = {}): Run => {
    const out = mkdtempSync(join(tmpdir(), 'tessera-nccl-one-'));
    const r = spawnSync(process.execPath, ['--expose-gc', main], { encoding: 'utf8', env: { ...process.env, ...env, TESSERA_TEST_OUT: out, ...extra } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(readFileSync(join(out, 'rank-0.json'), 'utf8')) as Run;
  };
  /** plain fit in one process at batch 64, the baseline of the tests below: run once, when first asked for */
  let plainRun: Run | undefined;
  const alone = (): Run => (plainRun ??= oneProcess());

  it('one process with distributed forced on cuda sums through a communicator of one, as a rank would, and ends where fit without it does', { timeout: 300_000 }, () => {
    // the bucket option turns data-parallel fit on in a world of one
    const a = alone(), b = oneProcess({ TESSERA_TEST_BUCKET_MB: String(200 / 2 ** 20) });
    assert.equal(b.worldSize, 1);
    const diff = Math.max(...a.weights.flatMap((w, i) => w.map((v, j) => Math.abs(v - b.weights[i]![j]!))));
    assert.ok(diff < 1e-5, `max |forced - plain| = ${diff}`);
    assert.equal(a.ncclCalls, 0);
    // compiled steps: each of 4 buckets summed in place through NCCL, every step (20, then the leak check's 10)
    assert.equal(b.ncclCalls, STEPS * BUCKETS);
    assert.deepEqual(b.streams, STREAMS);
    assert.deepEqual([b.leaked, b.collected], [0, 0], 'an epoch leaves no tensors behind and drops none for the GC');
  });

  /** Rank 0's and rank 1's results of fit-main under two ranks on cuda, buckets of 200 bytes. */
  const twoRanks = (extra: Record<string, string> = {}): [Run, Run] => {
    const out = mkdtempSync(join(tmpdir(), 'tessera-nccl-two-'));
    const two = mpirun(2, [process.execPath, '--expose-gc', main], { ...env, TESSERA_TEST_OUT: out, TESSERA_TEST_BUCKET_MB: String(200 / 2 ** 20), ...extra });
    assert.equal(two.status, 0, two.stdout + two.stderr);
    const read = (r: number) => JSON.parse(readFileSync(join(out, `rank-${r}.json`), 'utf8')) as Run;
    return [read(0), read(1)];
  };
  const againstAlone = ([r0, r1]: [Run, Run]) => {
    const diff = Math.max(...alone().weights.flatMap((w, i) => w.map((v, j) => Math.abs(v - r0.weights[i]![j]!))));
    assert.ok(diff < 1e-5, `max |two ranks - one process| = ${diff}`);
    assert.deepEqual(r0.weights, r1.weights);
    assert.deepEqual([r0.leaked, r1.leaked], [0, 0], 'an epoch on cuda leaves no tensors behind');
    assert.deepEqual([r0.collected, r1.collected], [0, 0], 'an epoch on cuda drops no tensor for the GC');
    for (const r of [r0, r1]) {
      assert.equal(r.ncclCalls, STEPS * BUCKETS);
      assert.deepEqual(r.streams, STREAMS);
    }
  };

  it('two ranks on cuda sum their gradient buckets through NCCL, on a stream of its own, and end with the weights of one process at batch 64', { timeout: 300_000 }, () => {
    assert.deepEqual([alone().leaked, alone().collected], [0, 0]);
    // one process makes no NCCL calls
    assert.equal(alone().ncclCalls, 0);
    againstAlone(twoRanks());
  });

  it('eager steps on cuda: each bucket, flattened on the GPU, is summed through NCCL as backward makes it', { timeout: 300_000 }, () => {
    againstAlone(twoRanks({ TESSERA_TEST_JIT: '0' }));
  });
});
