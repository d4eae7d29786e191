// The CUDA backend's FFI glue against a fake CUDA (test/fixtures/fake-cuda.c, built with gcc):
// library discovery and loading, out-pointers, 64-bit device pointers, kernel argument
// marshalling, NVRTC errors and the cubin cache, allocation failures, CUDA-event profiling,
// and the cuBLAS operand mapping, checked against the CPU backend. No GPU needed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as tsr from '../../src/index.js';
import { registerBackend } from '../../src/backends/registry.js';
import { type CudaBackend, createCudaBackend } from '../../src/backends/cuda/cuda-backend.js';
import type { CudaStorage } from '../../src/backends/cuda/launch.js';
import { STANDARD_CHECKS } from '../../src/devices/verify.js';

const gcc = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = gcc ? false : 'gcc is needed to build the fake CUDA libraries';
const source = fileURLToPath(new URL('../../../test/fixtures/fake-cuda.c', import.meta.url));

describe('the CUDA backend against a fake CUDA', { skip }, () => {
  let cuda: CudaBackend;
  let fake: Record<string, (...a: unknown[]) => unknown>;
  let root = '';
  const saved = { ...process.env };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'tessera-fake-cuda-'));
    mkdirSync(join(root, 'lib64'));
    for (const name of ['libcuda.so.1', 'libnvrtc.so.12', 'libcublas.so.12', 'libcublasLt.so.12']) {
      const r = spawnSync('gcc', ['-shared', '-fPIC', '-O1', '-o', join(root, 'lib64', name), source, '-ldl'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    process.env['TESSERA_CUDA_PATH'] = root;
    process.env['TESSERA_CUDA_CACHE'] = join(root, 'cache');
    const made = createCudaBackend();
    assert.ok(!('reason' in made), 'reason' in made ? made.reason : '');
    cuda = made as CudaBackend;
    registerBackend(cuda);
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    // each library is its own copy of the fake: read each one's records from it
    const lib = koffi.load(join(root, 'lib64', 'libcuda.so.1'));
    const nvrtc = koffi.load(join(root, 'lib64', 'libnvrtc.so.12')), cublas = koffi.load(join(root, 'lib64', 'libcublas.so.12'));
    const lt = koffi.load(join(root, 'lib64', 'libcublasLt.so.12'));
    fake = {
      launches: lib.func('int fake_launches(void)'),
      meta: lib.func('const int *fake_last_meta(void)'),
      ptrs: lib.func('const uint64_t *fake_last_ptrs(void)'),
      name: lib.func('const char *fake_last_name(void)'),
      arch: nvrtc.func('const char *fake_last_arch(void)'),
      grid: lib.func('unsigned int fake_last_grid(void)'),
      block: lib.func('unsigned int fake_last_block(void)'),
      // products go to cuBLASLt; cuBLAS only when Lt has no algorithm or refused a call
      compute: lt.func('int fake_last_compute(void)'),
      types: lt.func('int fake_last_types(void)'),
      ltCalls: lt.func('int fake_lt_calls(void)'),
      ltWorkspace: lt.func('uint64_t fake_lt_last_workspace(void)'),
      ltControl: lt.func('void fake_lt_control(int noAlgo, int fail)'),
      blasCompute: cublas.func('int fake_last_compute(void)'),
      blasCalls: cublas.func('int fake_gemm_calls(void)'),
      holdEvents: lib.func('void fake_hold_events(int on)'),
      pinnedBlocks: lib.func('int fake_pinned_blocks(void)'),
      graphLaunches: lib.func('int fake_graph_launches(void)'),
      used: lib.func('size_t fake_used(void)'),
      decode: (p: unknown, type: unknown, n: unknown) => koffi.decode(p, type as string, n as number),
    };
  });
  after(() => { process.env = saved; });

  it('finds the libraries by TESSERA_CUDA_PATH and reports the device and versions', () => {
    const d = cuda.info().details;
    assert.equal(d['name'], 'Fake GPU');
    assert.equal(d['computeCapability'], '8.0');
    assert.equal(d['multiprocessors'], 4);
    assert.equal(d['driver'], '12.4');
    assert.match(String(d['nvrtc']), /^12\.4 \(.*libnvrtc\.so\.12\)$/);
    assert.match(String(d['cublas']), /^120402 \(.*libcublas\.so\.12\)$/);
    assert.match(String(d['cublasLt']), /^120400 \(.*libcublasLt\.so\.12\)$/);
    assert.equal(cuda.info().description, 'Fake GPU (CUDA, compute 8.0)');
  });

  it('uploads and reads back every dtype through 64-bit device pointers', async () => {
    const f = tsr.tensor([1.5, -2, 3.25], { device: 'cuda' });
    const i = tsr.tensor(Int32Array.of(-7, 2 ** 30), { device: 'cuda' });
    const b = tsr.tensor([true, false, true], { device: 'cuda' });
    assert.deepEqual([...(await f.data())], [1.5, -2, 3.25]);
    assert.deepEqual([...(await i.data())], [-7, 2 ** 30]);
    assert.deepEqual([...(await b.data())], [1, 0, 1]);
    assert.ok((f.storageView.storage as CudaStorage).ptr > 0n);
    // half formats travel as 16-bit patterns: 2 bytes an element on the device, rounded values back
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const h = tsr.tensor([1 + 2 ** -12, -3.5, 70000], { device: 'cuda', dtype });
      assert.equal((h.storageView.storage as CudaStorage).bytes, 6);
      assert.deepEqual([...(await h.data())], [1, -3.5, dtype === 'float16' ? Infinity : 70144]);
    }
  });

  it('large uploads go through pinned blocks, reused once the copy that read them has completed', async () => {
    const before = fake['pinnedBlocks']!() as number;
    const data = Float32Array.from({ length: 8192 }, (_, i) => i);
    const a = tsr.tensor(data, { device: 'cuda' });
    assert.equal(fake['pinnedBlocks']!(), before + 1, 'a 32 KiB upload pins one block');
    const b = tsr.tensor(data, { device: 'cuda' });
    assert.equal(fake['pinnedBlocks']!(), before + 1, 'the block is reused after its copy completed');
    fake['holdEvents']!(1);
    try {
      tsr.tensor(data, { device: 'cuda' });
      assert.equal(fake['pinnedBlocks']!(), before + 2, 'while the last copy is still pending a second block is pinned');
    } finally {
      fake['holdEvents']!(0);
    }
    tsr.tensor([1, 2, 3], { device: 'cuda' });
    assert.equal(fake['pinnedBlocks']!(), before + 2, 'small uploads are not pinned');
    assert.deepEqual([...(await b.data())], [...data]);
    assert.deepEqual([...(await a.data())], [...data]);
    assert.ok(Number(cuda.info().details['pinnedBytes']) >= 2 * 32768);
  });

  it('float16 and bfloat16 products run as half GEMMs with float32 compute, whatever the float32 precision', async () => {
    cuda.precision = 'tf32';
    for (const [dtype, type] of [['bfloat16', 14], ['float16', 2]] as const) {
      const a = tsr.randn([6, 9], { seed: 3 }).cast(dtype), b = tsr.randn([9, 5], { seed: 4 }).cast(dtype);
      const want = await tsr.matmul(a, b).data();
      const got = await tsr.matmul(a.to('cuda'), b.to('cuda')).data();
      assert.equal(fake['types']!(), type * 10101, `A, B and C are all ${dtype}`);
      assert.equal(fake['compute']!(), 68, 'CUBLAS_COMPUTE_32F');
      const ulp = dtype === 'bfloat16' ? 2 ** -7 : 2 ** -10;
      got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= ulp * Math.abs(want[i]!), `${dtype} element ${i}: ${g} vs ${want[i]}`));
    }
    cuda.precision = 'highest';
  });

  it('launches a generated kernel with its integers and pointers where the kernel reads them', () => {
    const a = tsr.zeros([3, 1000], { device: 'cuda' }), b = tsr.zeros([1000], { device: 'cuda' });
    const before = fake['launches']!() as number;
    const c = tsr.add(a, b);
    assert.equal(fake['launches']!(), before + 1);
    assert.equal(fake['name']!(), 'ew');
    assert.equal(fake['arch']!(), '--gpu-architecture=sm_80');
    assert.equal(fake['block']!(), 256);
    assert.equal(fake['grid']!(), Math.ceil(3000 / 256));
    const meta = fake['decode']!(fake['meta']!(), 'int', 12) as number[];
    // [n, dims (collapsed to [3, 1000]), a (offset, strides), b (offset, strides: broadcast row), out ...]
    assert.deepEqual([...meta], [3000, 3, 1000, 0, 1000, 1, 0, 0, 1, 0, 1000, 1]);
    const ptrs = fake['decode']!(fake['ptrs']!(), 'uint64_t', 3) as (number | bigint)[];
    const ptrOf = (t: tsr.Tensor) => (t.storageView.storage as CudaStorage).ptr;
    assert.deepEqual([...ptrs].map(BigInt), [ptrOf(a), ptrOf(b), ptrOf(c)]);
  });

  it('compiled kernels are cached on disk; a compile error carries the NVRTC log and the numbered source', () => {
    assert.ok(readdirSync(process.env['TESSERA_CUDA_CACHE']!).some((f) => f.endsWith('.cubin')));
    assert.throws(() => cuda.runtime.driver.compile('#error broken\nint x;', 'broken', 'sm_80'),
      /cuda: kernel 'broken' failed to compile \(NVRTC status 6\):\nkernel\.cu\(1\): error: fake diagnostic\n {3}1: #error broken\n {3}2: int x;/);
  });

  it('cuBLASLt and cuBLAS receive the transposed problem: plain, transposed, sliced and batched products agree with the CPU', async () => {
    const cases: [number[], number[], (t: tsr.Tensor) => tsr.Tensor, (t: tsr.Tensor) => tsr.Tensor][] = [
      [[5, 7], [7, 3], (a) => a, (b) => b],
      [[7, 5], [7, 3], (a) => a.transpose([1, 0]), (b) => b],
      [[5, 7], [3, 7], (a) => a, (b) => b.transpose([1, 0])],
      [[5, 9], [7, 3], (a) => tsr.slice(a, [[0, 5], [1, 8]]), (b) => b],
      [[4, 5, 7], [7, 3], (a) => a, (b) => b],
      [[2, 5, 7], [2, 7, 3], (a) => a, (b) => b],
      [[1, 7], [7, 1], (a) => a, (b) => b],
    ];
    // first through cuBLASLt plans, then (plans forgotten) with the heuristic finding no
    // algorithm, which sends every product to cuBLAS
    const plans = (cuda as unknown as { gemm: { lt: { plans: Map<string, unknown> } } }).gemm.lt.plans;
    for (const [noAlgo, library] of [[0, 'ltCalls'], [1, 'blasCalls']] as const) {
      plans.clear();
      fake['ltControl']!(noAlgo, 0);
      try {
        for (const [sa, sb, fa, fb] of cases) {
          const a = tsr.randn(sa, { seed: 1 }), b = tsr.randn(sb, { seed: 2 });
          const want = [...(await tsr.matmul(fa(a), fb(b)).data())];
          const calls = fake[library]!() as number;
          const got = [...(await tsr.matmul(fa(a.to('cuda')), fb(b.to('cuda'))).data())];
          assert.equal(fake[library]!(), calls + 1, `${JSON.stringify([sa, sb])} ran on ${library === 'ltCalls' ? 'cuBLASLt' : 'cuBLAS'}`);
          assert.equal(got.length, want.length);
          got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-4, `${JSON.stringify([sa, sb])} element ${i}: ${g} vs ${want[i]}`));
        }
      } finally {
        fake['ltControl']!(0, 0);
        plans.clear();
      }
    }
    assert.equal(Number(fake['ltWorkspace']!()), 1 << 20, "the heuristic's workspace size is passed with the workspace");
  });

  it('a cuBLASLt failure sets it aside with one warning; products go on through cuBLAS', { concurrency: false }, async () => {
    const lt = (cuda as unknown as { gemm: { lt: unknown } }).gemm.lt;
    const warn = console.warn, warnings: string[] = [];
    console.warn = (m: string) => { warnings.push(m); };
    fake['ltControl']!(0, 1);
    try {
      const a = tsr.randn([6, 4], { seed: 5 }), b = tsr.randn([4, 2], { seed: 6 });
      const want = await tsr.matmul(a, b).data();
      const got = await tsr.matmul(a.to('cuda'), b.to('cuda')).data();
      got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-4));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /cuBLASLt refused a product \(cuda: cublasLtMatmul failed with cuBLAS status 13\); using cuBLAS from now on/);
    } finally {
      console.warn = warn;
      fake['ltControl']!(0, 0);
      (cuda as unknown as { gemm: { lt: unknown } }).gemm.lt = lt;
    }
  });

  it("verify's matmul check passes through cuBLASLt, timed by events, held to a TF32 bound in TF32", async () => {
    // (the fake runs no kernels in this process, so only the cuBLAS-only check can pass here)
    const matmulOnly = [STANDARD_CHECKS[0]!];
    cuda.precision = 'tf32';
    const [loose] = await tsr.verifyDevices(['cuda'], matmulOnly);
    cuda.precision = 'highest';
    const [strict] = await tsr.verifyDevices(['cuda'], matmulOnly);
    for (const r of [loose!, strict!]) assert.ok(r.ok && r.kernels === 1, `${r.check}: ${r.problem}`);
    assert.ok(Math.abs(loose!.bound / strict!.bound - 200) < 1e-9);
  });

  it('TF32 by default, strict float32 with precision highest', () => {
    const a = tsr.ones([4, 4], { device: 'cuda' });
    cuda.precision = 'tf32';
    tsr.matmul(a, a);
    assert.equal(fake['compute']!(), 77);
    cuda.precision = 'highest';
    tsr.matmul(a, a);
    assert.equal(fake['compute']!(), 68);
  });

  it('out of memory names the requested and free bytes; freed blocks are reused', () => {
    assert.throws(() => tsr.zeros([40 << 20], { device: 'cuda' }), /cuda: out of memory: requested 167772160 bytes, \d+ of 67108864 bytes free on the device/);
    const t = tsr.zeros([1000], { device: 'cuda' });
    const ptr = (t.storageView.storage as CudaStorage).ptr;
    t.dispose();
    const u = tsr.zeros([1000], { device: 'cuda' });
    assert.equal((u.storageView.storage as CudaStorage).ptr, ptr, 'the same size class comes back from the cache');
  });

  it('the profiler reads kernel times from CUDA events', async () => {
    const a = tsr.ones([64, 64], { device: 'cuda' });
    const { report } = await tsr.profile(() => { tsr.relu(a); tsr.exp(a); }, { devices: ['cuda'] });
    assert.equal(report.clocks['cuda'], 'CUDA events');
    const relu = report.rows.find((r) => r.op === 'relu')!;
    assert.equal(relu.kernels, 1);
    assert.equal(relu.totalMs, 0.25);
  });

  it('a compiled step replays as CUDA graphs: one cuGraphLaunch per run of fixed calls, updates with new scalars launched between', () => {
    const w = tsr.keep(tsr.ones([8, 4], { device: 'cuda' }).requireGrad());
    const opt = tsr.optimizers.adam();
    const step = tsr.compile((x: tsr.Tensor) => {
      const loss = x.matmul(w).square().mean();
      loss.backward();
      opt.step([w]);
      w.zeroGrad();
      return loss;
    });
    const x = tsr.ones([3, 8], { device: 'cuda' });
    step(x).dispose();
    step(x).dispose();
    // forward and backward in one graph; Adam's update takes new bias corrections each step
    const how = /^CUDA graph \((\d+) graphs?, (\d+) launch(?:es)? between\)$/.exec(step.stats.how);
    assert.ok(how, step.stats.how);
    assert.deepEqual([Number(how[1]), Number(how[2])], [1, 1]);
    const graphs = fake.graphLaunches() as number, launches = fake.launches() as number;
    for (let i = 0; i < 3; i++) step(x).dispose();
    assert.equal(step.stats.replays, 3);
    assert.equal((fake.graphLaunches() as number) - graphs, 3);
    // per replay: the argument copied in, the update, the loss copied out
    assert.equal((fake.launches() as number) - launches, 3 * 3);
    step.dispose();
    opt.dispose();
    w.dispose();
    x.dispose();
  });

  it('the op suite passes on the cuda device when the fake runs each kernel on the CPU (g++)', { timeout: 600_000 }, () => {
    const dist = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
    // a nested runner that sees NODE_TEST_CONTEXT reports to this one instead of running
    const { NODE_TEST_CONTEXT: _, ...env } = saved;
    const r = spawnSync(process.execPath, ['--expose-gc', '--test', dist('test/ops/'), dist('test/tensor/'), dist('test/devices/'), dist('test/errors.test.js')], {
      encoding: 'utf8',
      env: {
        ...env, TESSERA_CUDA_PATH: root, TESSERA_CUDA_CACHE: join(root, 'cache'), TESSERA_TEST_DEVICES: 'cuda', TESSERA_CUDA_PRECISION: 'highest',
        TESSERA_FAKE_CUDA_SHIM: fileURLToPath(new URL('../../../test/fixtures/cuda-shim.h', import.meta.url)), TESSERA_FAKE_CUDA_DIR: root,
        TESSERA_DISABLE_WEBGPU: '1', OMP_WAIT_POLICY: 'passive',
      },
    });
    const summary = /# pass (\d+)\n# fail (\d+)/.exec(r.stdout);
    assert.equal(r.status, 0, r.stdout.split('\n').filter((l) => /not ok|error:|Error/.test(l)).slice(0, 30).join('\n'));
    assert.ok(summary && Number(summary[1]) > 100 && summary[2] === '0', summary?.[0]);
  });
});
