// `tessera bench`: training speed of the Fashion-MNIST models on each device, and matmul
// throughput, with every device's speed-up over the CPU backend, measured in one run.
import { getBackend, withDevice } from '../backends/registry.js';
import { crossEntropy, matmul, rand, randint, setSeed } from '../ops/index.js';
import { adam } from '../optim/adam.js';
import { compile } from '../tensor/compile.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { type ModelKind, buildModel } from '../train/fashion-models.js';
import { float32Peak } from './peak.js';

export interface BenchOptions {
  models: readonly ModelKind[];
  batchSizes: readonly number[];
  devices: readonly string[];
  /** timed training steps per repeat */
  steps: number;
  warmupSteps: number;
  repeats: number;
  /** compiled steps, as fit runs them (default); false: every op dispatched eagerly */
  jit?: boolean;
  matmulSizes: readonly number[];
  /** element types of the matmuls (float16/bfloat16 accumulate in float32) */
  matmulDtypes: readonly MatmulDtype[];
  /** devices for the matmuls (default: `devices`) */
  matmulDevices?: readonly string[];
  /** called with a line as each measurement finishes */
  progress?: (line: string) => void;
}

export interface StepResult {
  model: ModelKind; batch: number; device: string;
  /** median over repeats, each ending with a device sync */
  msPerStep: number;
  samplesPerSec: number;
  /** samples/s over the CPU backend's for the same model and batch; null without a CPU run */
  speedupVsCpu: number | null;
}

export type MatmulDtype = 'float32' | 'float16' | 'bfloat16';

export interface MatmulResult {
  device: string; dtype: MatmulDtype; n: number; msPerCall: number; tflops: number;
  peakTflops: number | null; peakSource: string | null;
  /** set when a smaller size already took too long on this device */
  skipped?: string;
}

export interface BenchReport {
  date: string;
  /** precision: how the device runs float32 products where it has a choice (cuda: 'tf32' or 'highest') */
  devices: { name: string; description: string; precision?: string }[];
  options: Omit<BenchOptions, 'progress'>;
  steps: StepResult[];
  matmul: MatmulResult[];
}

/** Warm-up lasts at least this long: V8 needs some hundreds of calls to optimise a step. */
const WARMUP_MS = 2000;

/** One matmul size takes longer than this per call on a slow device: larger sizes are skipped. */
const MATMUL_SLOW_MS = 2000;

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface StepTiming {
  /** timed steps per repeat */
  steps: number;
  warmupSteps: number;
  repeats: number;
  /** compiled steps, as fit runs them (default true) */
  jit?: boolean;
  /** warm-up lasts at least this long (default 2000 ms) */
  warmupMs?: number;
}

/**
 * Median ms per training step (forward, backward, Adam) on `device`, synchronised by reading the
 * loss; compiled (captured once, replayed) as fit runs it, unless `jit` is false.
 */
export async function trainStepMs(device: string, kind: ModelKind, batch: number, timing: StepTiming): Promise<number> {
  const { steps, warmupSteps, repeats, jit = true, warmupMs = WARMUP_MS } = timing;
  return withDevice(device, async () => {
    setSeed(0);
    const model = buildModel(kind);
    const optimizer = adam({ learningRate: 1e-3 });
    const x = rand([batch, 28, 28]), y = randint(0, 10, [batch]);
    const body = (xb: Tensor, yb: Tensor) => {
      const loss = crossEntropy(model.apply(xb), yb);
      loss.backward();
      optimizer.step(model.parameters());
      model.zeroGrad();
      return loss;
    };
    const compiled = jit ? compile(body, { name: `${kind} step` }) : null;
    const step = compiled ? () => compiled(x, y) : () => tidy(() => body(x, y));
    const run = async (n: number) => {
      let last: Tensor | undefined;
      for (let i = 0; i < n; i++) { last?.dispose(); last = step(); }
      if (last) { await last.data(); last.dispose(); }
    };
    try {
      // warm up for the steps asked and at least warmupMs, so JIT tiers and kernel caches settle
      const warmStart = performance.now();
      await run(warmupSteps);
      while (performance.now() - warmStart < warmupMs) await run(Math.max(1, warmupSteps));
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const t = performance.now();
        await run(steps);
        times.push((performance.now() - t) / steps);
      }
      return median(times);
    } finally {
      compiled?.dispose();
      model.dispose();
      optimizer.dispose();
      x.dispose();
      y.dispose();
    }
  });
}

/** Median ms per n x n x n matmul on `device` (after one warm-up call that compiles). */
export async function matmulMs(device: string, n: number, repeats: number, dtype: MatmulDtype = 'float32'): Promise<number> {
  const operand = (seed: number) => {
    const r = rand([n, n], { seed, device });
    if (dtype === 'float32') return r;
    const h = r.cast(dtype);
    r.dispose();
    return h;
  };
  const a = operand(1), b = operand(2);
  try {
    let t = performance.now();
    const warm = matmul(a, b);
    await warm.data();
    warm.dispose();
    // enough calls per repeat to outlast timer noise, from the warm-up's duration
    const calls = Math.max(1, Math.min(50, Math.round(200 / Math.max(0.01, performance.now() - t))));
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      t = performance.now();
      let c: Tensor | undefined;
      for (let i = 0; i < calls; i++) { c?.dispose(); c = matmul(a, b); }
      await c!.data();
      c!.dispose();
      times.push((performance.now() - t) / calls);
    }
    return median(times);
  } finally {
    a.dispose();
    b.dispose();
  }
}

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const say = opts.progress ?? (() => undefined);
  const steps: StepResult[] = [];
  for (const model of opts.models) {
    for (const batch of opts.batchSizes) {
      for (const device of opts.devices) {
        const ms = await trainStepMs(device, model, batch, opts);
        steps.push({ model, batch, device, msPerStep: ms, samplesPerSec: (batch * 1000) / ms, speedupVsCpu: null });
        say(`${model} batch ${batch} on ${device}: ${ms.toFixed(2)} ms/step`);
      }
    }
  }
  for (const s of steps) {
    const cpu = steps.find((c) => c.device === 'cpu' && c.model === s.model && c.batch === s.batch);
    s.speedupVsCpu = cpu ? s.samplesPerSec / cpu.samplesPerSec : null;
  }
  const mm: MatmulResult[] = [];
  for (const device of opts.matmulDevices ?? opts.devices) {
    for (const dtype of opts.matmulDtypes) {
      // the float32 peak says nothing about half-precision tensor cores
      const peak = dtype === 'float32' ? float32Peak(getBackend(device).info()) : null;
      let tooSlow: string | undefined;
      for (const n of opts.matmulSizes) {
        const base = { device, dtype, n, peakTflops: peak?.tflops ?? null, peakSource: peak?.source ?? null };
        if (tooSlow) { mm.push({ ...base, msPerCall: NaN, tflops: NaN, skipped: tooSlow }); continue; }
        const ms = await matmulMs(device, n, opts.repeats, dtype);
        mm.push({ ...base, msPerCall: ms, tflops: (2 * n ** 3) / ms / 1e9 });
        say(`matmul ${dtype} ${n} on ${device}: ${ms.toFixed(2)} ms`);
        if (ms > MATMUL_SLOW_MS) tooSlow = `${n}^3 took ${(ms / 1000).toFixed(1)} s per call`;
      }
    }
  }
  const { progress: _, ...options } = opts;
  return {
    date: new Date().toISOString(),
    devices: [...new Set([...opts.devices, ...(opts.matmulDevices ?? [])])].map((name) => {
      const info = getBackend(name).info(), precision = info.details['matmulPrecision'];
      return { name, description: info.description, ...(precision === undefined ? {} : { precision: String(precision) }) };
    }),
    options, steps, matmul: mm,
  };
}
