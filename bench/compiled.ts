// Compiled training steps against eager ones and PyTorch, side by side in one run: the MLP at
// batch 32 and 256, the CNN at batch 64, and the LSTM and Transformer of `tessera train` at
// batch 32 on the CPU (samples/s, ratios), then the host time
// of one replayed step on webgpu (lavapipe here) and on the fake CUDA (launches recorded, GEMMs
// skipped: the host's cost alone), each against its eager step.
//   npm run build && node dist/bench/compiled.js [--rounds 3] [--devices cpu,webgpu,fake-cuda]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tsr from '../src/index.js';
import { registerBackend } from '../src/backends/registry.js';
import { findTorchPython, header, pad, timeMs } from './harness.js';
import { type Workload, inputShapeOf, model, torchStepMs } from './train-step.js';

const WORKLOADS: Workload[] = [
  { workload: 'mlp', batch: 32, steps: 300, repeats: 5 },
  { workload: 'mlp', batch: 256, steps: 60, repeats: 5 },
  { workload: 'cnn', batch: 64, steps: 6, repeats: 5 },
  { workload: 'lstm', batch: 32, steps: 10, repeats: 5 },
  { workload: 'transformer', batch: 32, steps: 20, repeats: 5 },
];

/** One forward + backward + Adam step of the workload's model, eager or compiled; returns it with its cleanup. */
function stepOf(w: Workload, device: string, jit: boolean): { step: () => void; stats: () => tsr.CompileStats | null; dispose: () => void } {
  const m = model(w.workload);
  m.to(device);
  const opt = tsr.optimizers.adam({ learningRate: 1e-3 });
  const x = tsr.rand(inputShapeOf(w), { seed: 1, device });
  const y = tsr.randint(0, 10, [w.batch], { seed: 2, device });
  const body = (xb: tsr.Tensor, yb: tsr.Tensor) => {
    const loss = tsr.crossEntropy(m.apply(xb), yb);
    loss.backward();
    opt.step(m.parameters());
    m.zeroGrad();
  };
  const compiled = jit ? tsr.compile(body, { name: `${w.workload}${w.batch}` }) : null;
  return {
    step: compiled ? () => compiled(x, y) : () => tsr.tidy(() => body(x, y)),
    stats: () => compiled?.stats ?? null,
    dispose: () => { compiled?.dispose(); m.dispose(); opt.dispose(); x.dispose(); y.dispose(); },
  };
}

function cpuStepMs(w: Workload, jit: boolean): number {
  const s = stepOf(w, 'cpu', jit);
  const ms = timeMs(s.step, w.steps, w.repeats);
  const stats = s.stats();
  if (stats && stats.replays === 0) throw new Error(`the compiled ${w.workload} step did not replay: ${stats.fallbacks.join('; ')}`);
  s.dispose();
  return ms;
}

/** Host microseconds per step (the calls alone, the device left to finish after) and how the device replays. */
async function hostMicros(device: string, jit: boolean, steps: number): Promise<{ us: number; how: string }> {
  const s = stepOf({ workload: 'mlp', batch: 32, steps, repeats: 1 }, device, jit);
  for (let i = 0; i < 5; i++) s.step();
  await tsr.zeros([1], { device }).data();
  const t = performance.now();
  for (let i = 0; i < steps; i++) s.step();
  const us = ((performance.now() - t) / steps) * 1000;
  await tsr.zeros([1], { device }).data();
  const how = s.stats()?.how ?? 'eager';
  s.dispose();
  return { us, how };
}

/** The fake CUDA of the tests, built here: launches are recorded, not run; GEMMs skipped. */
function openFakeCuda(): string | null {
  if (spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status !== 0) return 'gcc not found';
  const root = mkdtempSync(join(tmpdir(), 'tessera-bench-fake-cuda-'));
  mkdirSync(join(root, 'lib64'));
  const source = fileURLToPath(new URL('../../test/fixtures/fake-cuda.c', import.meta.url));
  for (const name of ['libcuda.so.1', 'libnvrtc.so.12', 'libcublas.so.12', 'libcublasLt.so.12']) {
    const r = spawnSync('gcc', ['-shared', '-fPIC', '-O2', '-o', join(root, 'lib64', name), source, '-ldl'], { encoding: 'utf8' });
    if (r.status !== 0) return r.stderr;
  }
  Object.assign(process.env, { TESSERA_CUDA_PATH: root, TESSERA_CUDA_CACHE: join(root, 'cache'), TESSERA_FAKE_CUDA_SKIP_GEMM: '1' });
  return null;
}

async function main(): Promise<void> {
  const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
  const rounds = Number(arg('--rounds')) || 3;
  const devices = (arg('--devices') ?? 'cpu,webgpu,fake-cuda').split(',');
  const py = findTorchPython();
  console.log(header('compiled training steps: tessera compiled vs tessera eager vs PyTorch (forward + backward + Adam)'));
  console.log(py ? `pytorch: ${py}, torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1` : 'pytorch: not found (install python3-torch); only tessera figures');
  if (devices.includes('cpu')) {
    const eager = new Map<string, number[]>(), compiled = new Map<string, number[]>(), torch = new Map<string, number[]>();
    const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
    for (let r = 0; r < rounds; r++) {
      for (const w of WORKLOADS) {
        const key = `${w.workload}/${w.batch}`;
        push(eager, key, cpuStepMs(w, false));
        push(compiled, key, cpuStepMs(w, true));
      }
      if (py) {
        for (const [k, v] of torchStepMs(py, WORKLOADS)) {
          if (k.startsWith('torch ')) { if (r === 0) console.log(`pytorch version: ${k.slice(6)}`); continue; }
          push(torch, k, v);
        }
      }
    }
    const med = (xs: number[] | undefined) => (xs ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
    const sps = (batch: number, ms: number) => (Number.isNaN(ms) ? '-' : String(Math.round((batch / ms) * 1000)));
    console.log(`\ncpu, samples/s (median of ${rounds} alternating rounds)`);
    console.log(`${'workload'.padEnd(10)}${pad('batch', 6)}${pad('eager', 9)}${pad('compiled', 10)}${pad('pytorch', 9)}${pad('compiled/eager', 16)}${pad('compiled/pytorch', 18)}${pad('ms/step', 9)}`);
    for (const w of WORKLOADS) {
      const key = `${w.workload}/${w.batch}`;
      const e = med(eager.get(key)), c = med(compiled.get(key)), p = med(torch.get(key));
      console.log(`${w.workload.padEnd(10)}${pad(w.batch, 6)}${pad(sps(w.batch, e), 9)}${pad(sps(w.batch, c), 10)}${pad(sps(w.batch, p), 9)}${pad((e / c).toFixed(2) + 'x', 16)}${pad(Number.isNaN(p) ? '-' : (p / c).toFixed(2) + 'x', 18)}${pad(c.toFixed(3), 9)}`);
    }
  }
  const hostRows: string[] = [];
  if (devices.includes('webgpu')) {
    await tsr.initDevices();
    if (tsr.availableDevices().includes('webgpu')) {
      const desc = tsr.getBackend('webgpu').info().description;
      const e = await hostMicros('webgpu', false, 100), c = await hostMicros('webgpu', true, 100);
      hostRows.push(`webgpu (${desc})`.padEnd(44) + pad(e.us.toFixed(0), 8) + pad(c.us.toFixed(0), 10) + pad((e.us / c.us).toFixed(2) + 'x', 8) + `  ${c.how}`);
    } else hostRows.push(`webgpu: unavailable (${tsr.unavailableDevices()['webgpu']})`);
  }
  if (devices.includes('fake-cuda')) {
    const why = openFakeCuda();
    const { createCudaBackend } = await import('../src/backends/cuda/cuda-backend.js');
    const made = why ? { reason: why } : createCudaBackend();
    if ('reason' in made) hostRows.push(`fake cuda: unavailable (${made.reason})`);
    else {
      registerBackend(made);
      const e = await hostMicros('cuda', false, 300), c = await hostMicros('cuda', true, 300);
      hostRows.push('cuda (the fake: kernels recorded, GEMMs skipped)'.padEnd(44) + pad(e.us.toFixed(0), 8) + pad(c.us.toFixed(0), 10) + pad((e.us / c.us).toFixed(2) + 'x', 8) + `  ${c.how}`);
    }
  }
  if (hostRows.length) {
    console.log('\nhost time per step of the MLP at batch 32 (microseconds; the device finishes after)');
    console.log(`${'device'.padEnd(44)}${pad('eager', 8)}${pad('compiled', 10)}${pad('ratio', 8)}  replay`);
    hostRows.forEach((r) => console.log(r));
  }
  console.log('\ncompiled/eager and compiled/pytorch: throughput ratios (>1 means the compiled step is faster)');
  tsr.releaseDevices();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
