// Shared benchmark plumbing: timing by median of repeats, the machine header, and finding PyTorch.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { getBackend } from '../src/backends/registry.js';

/** Median milliseconds per call of fn over `repeats` runs of `calls` calls, after warm-up. */
export function timeMs(fn: () => void, calls: number, repeats = 5, warmup = Math.max(3, calls / 5)): number {
  for (let i = 0; i < warmup; i++) fn();
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let i = 0; i < calls; i++) fn();
    runs.push((performance.now() - t) / calls);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)]!;
}

export function header(title: string): string {
  const cpu = getBackend('cpu').info();
  return [
    `# ${title}`,
    `date: ${new Date().toISOString()}`,
    `machine: ${os.hostname()} | ${cpu.description} | ${os.totalmem() / 2 ** 30 | 0} GiB | ${process.platform}-${process.arch}`,
    `device: cpu | blas: ${cpu.details['blas']} | convolution: ${cpu.details['convolution']} | features: ${cpu.details['features']}`,
    `node: ${process.version} | OPENBLAS_NUM_THREADS=${process.env['OPENBLAS_NUM_THREADS'] ?? '(unset)'}`,
  ].join('\n');
}

/** A python3 that imports torch: TESSERA_TORCH_PYTHON, then Debian's /usr/bin/python3, then PATH. */
export function findTorchPython(): string | null {
  const candidates = [process.env['TESSERA_TORCH_PYTHON'], '/usr/bin/python3', 'python3'].filter((x): x is string => !!x);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

export function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}
