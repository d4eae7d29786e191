// The cuda device beyond the shared op suite (which runs on it with TESSERA_TEST_DEVICES=cuda):
// precision modes, faults with clear errors, memory accounting, and agreement with the CPU.
// Runs where an NVIDIA GPU and CUDA 12/13 libraries are present (npm run test:cuda).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import type { CudaBackend } from '../../src/backends/cuda/cuda-backend.js';
import { asColumnMajor } from '../../src/backends/cuda/gemm.js';
import { sizeClass } from '../../src/backends/cuda/size-class.js';

describe('cuda without a GPU: the pure parts', () => {
  it('maps row-major views to cuBLAS operands, or asks for a copy', () => {
    assert.deepEqual(asColumnMajor(3, 4, 4, 1), { op: 0, ld: 4 });   // contiguous rows
    assert.deepEqual(asColumnMajor(3, 4, 1, 3), { op: 1, ld: 3 });   // a transposed view
    assert.deepEqual(asColumnMajor(3, 4, 8, 1), { op: 0, ld: 8 });   // a slice of wider rows
    assert.deepEqual(asColumnMajor(1, 4, 0, 1), { op: 0, ld: 4 });   // one row, any row stride
    assert.equal(asColumnMajor(3, 4, 8, 2), null);                    // strided both ways: copy
    assert.equal(asColumnMajor(3, 4, 2, 1), null);                    // overlapping rows: copy
  });

  it('size classes let freed blocks serve later tensors of nearby size', () => {
    assert.equal(sizeClass(1), 512);
    assert.equal(sizeClass(513), 1024);
    assert.equal(sizeClass(1 << 20), 1 << 20);
    assert.equal(sizeClass((1 << 20) + 1), 2 << 20);
    assert.equal(sizeClass(5 << 20), 6 << 20);
  });
});

// whether a GPU is here is known before the suite is declared, so it skips as a whole, saying why
await tsr.initDevices();
const skip = tsr.availableDevices().includes('cuda') ? false : `no CUDA device: ${tsr.unavailableDevices()['cuda']}`;
// an open (software) WebGPU device would only keep a core busy while the skipped suite waits
if (skip) await tsr.releaseDevices();

describe('cuda device', { skip }, () => {
  after(() => tsr.releaseDevices());
  const cuda = () => tsr.getBackend('cuda') as CudaBackend;

  it('reports the GPU, compute capability, memory and library versions', () => {
    const d = cuda().info().details;
    for (const k of ['name', 'computeCapability', 'memoryBytes', 'driver', 'nvrtc', 'cublas', 'cublasLt', 'libcuda']) assert.ok(d[k], k);
  });

  it('cuBLASLt plans and cuBLAS agree in strict float32, plain and batched; half products through both', async () => {
    const gemm = (cuda() as unknown as { gemm: { lt: unknown } }).gemm;
    assert.ok(gemm.lt, `cuBLASLt is in use: ${cuda().info().details['cublasLt']}`);
    const before = cuda().precision, lt = gemm.lt;
    cuda().precision = 'highest';
    try {
      for (const [sa, sb, dtype] of [[[257, 513], [513, 129], 'float32'], [[4, 65, 33], [4, 33, 17], 'float32'], [[128, 256], [256, 64], 'bfloat16']] as const) {
        const a = tsr.randn([...sa], { seed: 7, device: 'cuda' }).cast(dtype), b = tsr.randn([...sb], { seed: 8, device: 'cuda' }).cast(dtype);
        gemm.lt = lt;
        const viaLt = await tsr.matmul(a, b).data();
        gemm.lt = null;
        const viaBlas = await tsr.matmul(a, b).data();
        const tol = dtype === 'float32' ? 1e-4 : 2 ** -7;
        viaLt.forEach((v, i) => assert.ok(Math.abs(v - viaBlas[i]!) <= tol * Math.max(1, Math.abs(viaBlas[i]!)), `${dtype} ${sa} @ ${sb} element ${i}: ${v} vs ${viaBlas[i]}`));
      }
    } finally {
      gemm.lt = lt;
      cuda().precision = before;
    }
  });

  it('a 64 MiB upload through pinned blocks reads back intact, twice from one block', async () => {
    const data = Float32Array.from({ length: 16 << 20 }, (_, i) => i % 4099);
    for (let round = 0; round < 2; round++) {
      const t = tsr.tensor(data, { device: 'cuda' });
      const back = await t.data();
      assert.ok(back.every((v, i) => v === data[i]), `round ${round}`);
      t.dispose();
    }
    assert.ok(Number(cuda().info().details['pinnedBytes']) >= 64 << 20);
  });

  it('float32 matmul: TF32 by default within 1e-2, strict float32 within 1e-4 of the CPU', async () => {
    const a = tsr.randn([96, 200], { seed: 1 }), b = tsr.randn([200, 72], { seed: 2 });
    const want = await tsr.matmul(a, b).data();
    const err = async () => {
      const got = await tsr.matmul(a.to('cuda'), b.to('cuda')).data();
      return Math.max(...Array.from(want, (w, i) => Math.abs(w - got[i]!) / Math.max(1, Math.abs(w))));
    };
    const before = cuda().precision;
    try {
      cuda().precision = 'tf32';
      assert.ok((await err()) < 1e-2);
      cuda().precision = 'highest';
      assert.ok((await err()) < 1e-4);
    } finally {
      cuda().precision = before;
    }
  });

  it('transposed, sliced and batched-broadcast operands need no copies and agree with the CPU', async () => {
    const a = tsr.randn([3, 40, 30], { seed: 3 }), b = tsr.randn([30, 50], { seed: 4 });
    const want = await tsr.matmul(a, b).data();
    const got = await tsr.matmul(a.to('cuda'), b.to('cuda')).data();
    assert.ok(Array.from(want).every((w, i) => Math.abs(w - got[i]!) < 2e-2 * Math.max(1, Math.abs(w))));
    const at = tsr.randn([30, 40], { seed: 5 });
    const wantT = await tsr.matmul(at.transpose([1, 0]), b).data();
    const gotT = await tsr.matmul(at.to('cuda').transpose([1, 0]), b.to('cuda')).data();
    assert.ok(Array.from(wantT).every((w, i) => Math.abs(w - gotT[i]!) < 2e-2 * Math.max(1, Math.abs(w))));
  });

  it('out of memory names the requested and free bytes', () => {
    const total = Number(cuda().info().details['memoryBytes']);
    assert.throws(() => tsr.zeros([Math.floor(total / 4) * 2], { device: 'cuda' }), /cuda: out of memory: requested \d+ bytes, \d+ of \d+ bytes free/);
  });

  it('freed tensors return to the cache: reserved bytes stay flat over a training loop', async () => {
    const m = tsr.withDevice('cuda', () => tsr.sequential([tsr.layers.dense({ units: 64, activation: 'relu', inputShape: [32] }), tsr.layers.dense({ units: 4 })]));
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const x = tsr.randn([256, 32], { seed: 1, device: 'cuda' }), y = tsr.randint(0, 4, [256], { seed: 2, device: 'cuda' });
    await m.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 });
    const reserved = cuda().info().details['reservedBytes'];
    await m.fit(x, y, { epochs: 3, batchSize: 32, verbose: 0 });
    assert.equal(cuda().info().details['reservedBytes'], reserved);
  });

  it('the profiler times kernels with CUDA events', async () => {
    const a = tsr.randn([256, 256], { seed: 1, device: 'cuda' });
    const { report } = await tsr.profile(() => tsr.matmul(a, a).relu().sum().data());
    assert.equal(report.clocks['cuda'], 'CUDA events');
    assert.ok(report.rows.some((r) => r.device === 'cuda' && r.op === 'matmul' && r.totalMs > 0));
  });
});
