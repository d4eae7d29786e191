// tessera beside PyTorch (or JAX) from one GPU run: reads torch_baseline.py's (or jax_baseline.py's)
// JSON lines and one or more `tessera bench --json`/`--out` reports, and prints each shared
// workload with the ratio tessera / baseline (above 1: tessera is faster).
//   node dist/bench/compare-torch.js OUT/torch.jsonl OUT/bench-tf32/bench.json OUT/bench-highest/bench.json
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { BenchReport } from '../src/devices/bench.js';

export interface Comparison { workload: string; device: string; unit: string; tessera: number; torch: number; ratio: number }

export interface TorchLine { what: string; device?: string; torch?: string; jax?: string; dtype?: string; n?: number; tflops?: number; model?: string; batch?: number; samples_per_s?: number }

/** torch_baseline.py's GEMM labels as tessera's dtype and float32 precision. */
const GEMM: Record<string, { dtype: string; precision?: string }> = {
  bf16: { dtype: 'bfloat16' }, fp16: { dtype: 'float16' }, tf32: { dtype: 'float32', precision: 'tf32' }, fp32: { dtype: 'float32', precision: 'highest' },
};

/** Rows pair tessera and PyTorch on the same kind of device: GPUs with PyTorch on CUDA, the CPU with PyTorch on the CPU. */
export function compareWithTorch(torch: readonly TorchLine[], reports: readonly BenchReport[]): Comparison[] {
  const rows: Comparison[] = [];
  const torchOnCpu = torch.find((t) => t.what === 'meta')?.device === 'cpu';
  const add = (workload: string, device: string, unit: string, tessera: number, ref: number) => {
    if ((device === 'cpu') !== torchOnCpu) return;
    if (Number.isFinite(tessera) && ref > 0) rows.push({ workload, device, unit, tessera, torch: ref, ratio: tessera / ref });
  };
  for (const t of torch) {
    if (t.what === 'gemm' && t.dtype && GEMM[t.dtype]) {
      const want = GEMM[t.dtype]!;
      for (const r of reports) {
        for (const m of r.matmul) {
          const precision = r.devices.find((d) => d.name === m.device)?.precision;
          // float32 on a device without a precision switch (webgpu) is plain float32
          const matches = (m.dtype ?? 'float32') === want.dtype && m.n === t.n && (!want.precision || (precision ?? 'highest') === want.precision);
          if (matches) add(`gemm ${t.dtype} ${t.n}^3`, m.device, 'TFLOP/s', m.tflops, t.tflops!);
        }
      }
    }
    if (t.what === 'train') {
      for (const r of reports) {
        for (const s of r.steps) {
          if (s.model === t.model && s.batch === t.batch) add(`train ${t.model} batch ${t.batch}`, s.device, 'samples/s', s.samplesPerSec, t.samples_per_s!);
        }
      }
    }
  }
  // one row per workload and device: the first report that has it (reports are given in order)
  return rows.filter((r, i) => rows.findIndex((o) => o.workload === r.workload && o.device === r.device) === i);
}

export function formatComparison(rows: readonly Comparison[], torchDevice: string, framework = 'PyTorch'): string {
  const name = framework.toLowerCase();
  const head = ['workload', 'device', 'tessera', name, 'unit', `tessera/${name}`];
  const body = rows.map((r) => [r.workload, r.device, r.tessera.toPrecision(4), r.torch.toPrecision(4), r.unit, `${r.ratio.toFixed(2)}x`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`${framework} on ${torchDevice}, same machine, same run`, line(head), ...body.map(line)].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [torchFile, ...reportFiles] = process.argv.slice(2);
  if (!torchFile || !reportFiles.length) {
    console.error('usage: node dist/bench/compare-torch.js torch.jsonl bench.json [bench.json ...]');
    process.exit(2);
  }
  const torch = readFileSync(torchFile, 'utf8').split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as TorchLine);
  // --out writes the report as indented JSON; --json prints it on the last line of the output.
  // A step that failed left no report: say so and compare the rest.
  const reports: BenchReport[] = [];
  for (const f of reportFiles) {
    const text = existsSync(f) ? readFileSync(f, 'utf8').trim() : '';
    const report = [text, text.split('\n').at(-1) ?? ''].map((t) => { try { return JSON.parse(t) as BenchReport; } catch { return null; } }).find((r) => r?.matmul);
    if (report) reports.push(report);
    else console.log(`(no bench report in ${f}: that step failed; see its log)`);
  }
  const meta = torch.find((t) => t.what === 'meta');
  const framework = meta?.jax ? 'JAX' : 'PyTorch';
  console.log(formatComparison(compareWithTorch(torch, reports), `${meta?.device ?? '?'} (${meta?.jax ? `jax ${meta.jax}` : `torch ${meta?.torch ?? '?'}`})`, framework));
}
