// float32 matmul through tessera against the same BLAS called directly (koffi, same memory),
// and the two GEMMs for machines without a BLAS (browsers): the tiled WebAssembly SIMD one, and
// the JavaScript one it falls back to.
//   npm run build && node dist/bench/matmul.js
import * as tsr from '../src/index.js';
import { NO_TRANS, useThreadsFor } from '../src/backends/cpu/blas.js';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { gemmFallback } from '../src/backends/cpu/gemm-fallback.js';
import { tiledGemm } from '../src/backends/cpu/wasm-gemm-tiled.js';
import { getBackend } from '../src/backends/registry.js';
import { header, pad, timeMs } from './harness.js';

function main(): void {
  console.log(header('matmul: tessera vs direct cblas_sgemm (same library, same process)'));
  const lib = (getBackend('cpu') as CpuBackend).blasLibrary;
  console.log(`\n${'size'.padEnd(16)}${pad('tessera GFLOP/s', 17)}${pad('direct GFLOP/s', 16)}${pad('ratio', 8)}${pad('no BLAS: SIMD GFLOP/s', 23)}${pad('JavaScript GFLOP/s', 20)}`);
  for (const n of [256, 512, 1024]) {
    const a = tsr.rand([n, n], { seed: 1 }), b = tsr.rand([n, n], { seed: 2 });
    const flop = 2 * n * n * n;
    const calls = n >= 1024 ? 5 : 20;
    const ours = timeMs(() => { tsr.matmul(a, b).dispose(); }, calls, 7);
    const A = a.dataSync() as Float32Array, B = b.dataSync() as Float32Array, C = new Float32Array(n * n);
    const direct = lib ? timeMs(() => {
      useThreadsFor(lib, n, n, n);
      lib.sgemm(NO_TRANS, NO_TRANS, n, n, n, 1, A, n, B, n, 0, C, n);
    }, calls, 7) : NaN;
    const out = tsr.zeros([n, n]);
    const view = (t: tsr.Tensor) => ({ ...t.storageView, shape: [1, n, n], strides: [n * n, n, 1] });
    const tiled = timeMs(() => { tiledGemm(view(a), 0, view(b), 0, view(out), 0, n, n, n); }, calls, 7);
    out.dispose();
    const builtin = n <= 512 ? timeMs(() => gemmFallback(n, n, n, A, 0, n, 1, B, 0, n, 1, C, 0, n), 2, 3, 1) : NaN;
    const gf = (ms: number) => (Number.isNaN(ms) ? '-' : (flop / ms / 1e6).toFixed(1));
    console.log(`${`${n}x${n}x${n}`.padEnd(16)}${pad(gf(ours), 17)}${pad(gf(direct), 16)}${pad(Number.isNaN(direct) ? '-' : (direct / ours * 100).toFixed(1) + '%', 8)}${pad(gf(tiled), 23)}${pad(gf(builtin), 20)}`);
    a.dispose();
    b.dispose();
  }
  console.log('\nratio = tessera throughput as a share of the direct BLAS call (goal >= 90% at 1024)');
}

main();
