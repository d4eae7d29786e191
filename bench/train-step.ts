// One training step (forward, backward, Adam) of the Fashion-MNIST MLP and CNN: tessera's CPU
// backend against PyTorch on the same CPU, alternating rounds, ratio of medians.
//   npm run build && node dist/bench/train-step.js [--rounds 3]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tsr from '../src/index.js';
import { findTorchPython, header, pad, timeMs } from './harness.js';
import { buildModel } from '../src/train/fashion-models.js';

export interface Workload { workload: 'mlp' | 'cnn' | 'lstm' | 'transformer'; batch: number; steps: number; repeats: number }

/** One batch's input shape: the MLP takes flat rows, the CNN NHWC images, the sequence models 28 rows of 28 pixels. */
export function inputShapeOf(w: Workload): number[] {
  return w.workload === 'mlp' ? [w.batch, 784] : w.workload === 'cnn' ? [w.batch, 28, 28, 1] : [w.batch, 28, 28];
}

const WORKLOADS: Workload[] = [
  { workload: 'mlp', batch: 32, steps: 300, repeats: 5 },
  { workload: 'mlp', batch: 256, steps: 60, repeats: 5 },
  { workload: 'cnn', batch: 64, steps: 6, repeats: 5 },
];

export function model(kind: Workload['workload']): tsr.Sequential | tsr.Functional {
  tsr.setSeed(0);
  if (kind === 'lstm' || kind === 'transformer') return buildModel(kind);
  if (kind === 'mlp') {
    return tsr.sequential([
      tsr.layers.dense({ units: 128, activation: 'relu', inputShape: [784] }),
      tsr.layers.dense({ units: 10 }),
    ]);
  }
  return tsr.sequential([
    tsr.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
    tsr.layers.maxPooling2d({ poolSize: 2 }),
    tsr.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tsr.layers.maxPooling2d({ poolSize: 2 }),
    tsr.layers.flatten(),
    tsr.layers.dense({ units: 128, activation: 'relu' }),
    tsr.layers.dense({ units: 10 }),
  ]);
}

export function tesseraStepMs(w: Workload): number {
  const m = model(w.workload);
  const opt = tsr.optimizers.adam({ learningRate: 1e-3 });
  const x = tsr.rand(inputShapeOf(w), { seed: 1 });
  const y = tsr.randint(0, 10, [w.batch], { seed: 2 });
  const ms = timeMs(() => tsr.tidy(() => {
    const loss = tsr.crossEntropy(m.apply(x), y);
    loss.backward();
    opt.step(m.parameters());
    m.zeroGrad();
  }), w.steps, w.repeats);
  m.dispose();
  opt.dispose();
  x.dispose();
  y.dispose();
  return ms;
}

export function torchStepMs(py: string, ws: Workload[]): Map<string, number> {
  const script = fileURLToPath(new URL('../../bench/torch_step.py', import.meta.url));
  const r = spawnSync(py, [script, '2', JSON.stringify(ws)], { env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PyTorch benchmark failed: ${r.stderr}`);
  const out = new Map<string, number>();
  for (const line of r.stdout.trim().split('\n')) {
    const j = JSON.parse(line) as { workload?: string; batch?: number; ms_per_step?: number; torch?: string };
    if (j.workload) out.set(`${j.workload}/${j.batch}`, j.ms_per_step!);
    else out.set(`torch ${j.torch}`, 0);
  }
  return out;
}

function main(): void {
  const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
  const py = findTorchPython();
  console.log(header('train step: tessera (cpu) vs PyTorch (cpu), forward + backward + Adam'));
  console.log(py ? `pytorch: ${py}, torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1` : 'pytorch: not found (install python3-torch); only tessera figures');
  const ours = new Map<string, number[]>(), theirs = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const w of WORKLOADS) {
      const key = `${w.workload}/${w.batch}`;
      ours.set(key, [...(ours.get(key) ?? []), tesseraStepMs(w)]);
    }
    if (py) {
      for (const [k, v] of torchStepMs(py, WORKLOADS)) {
        if (k.startsWith('torch ')) { if (r === 0) console.log(`pytorch version: ${k.slice(6)}`); continue; }
        theirs.set(k, [...(theirs.get(k) ?? []), v]);
      }
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\n${'workload'.padEnd(10)}${pad('batch', 6)}${pad('tessera ms', 12)}${pad('samples/s', 11)}${pad('torch ms', 10)}${pad('samples/s', 11)}${pad('ratio', 8)}`);
  for (const w of WORKLOADS) {
    const key = `${w.workload}/${w.batch}`;
    const t = med(ours.get(key)!), p = theirs.has(key) ? med(theirs.get(key)!) : NaN;
    console.log(`${w.workload.padEnd(10)}${pad(w.batch, 6)}${pad(t.toFixed(3), 12)}${pad(Math.round(w.batch / t * 1000), 11)}${pad(Number.isNaN(p) ? '-' : p.toFixed(3), 10)}${pad(Number.isNaN(p) ? '-' : Math.round(w.batch / p * 1000), 11)}${pad(Number.isNaN(p) ? '-' : (p / t).toFixed(2) + 'x', 8)}`);
  }
  console.log(`\nratio = tessera samples/s / PyTorch samples/s (median of ${rounds} alternating rounds; >1 means tessera is faster)`);
}

// run only when executed directly, not when imported by other benchmarks
if (import.meta.url === `file://${process.argv[1]}`) main();
