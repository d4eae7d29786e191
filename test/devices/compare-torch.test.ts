// The GPU run's side-by-side with PyTorch: each workload matched to its PyTorch twin by dtype,
// float32 precision, size, model and batch, with the ratio tessera / PyTorch.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { compareWithTorch, formatComparison } from '../../bench/compare-torch.js';
import type { BenchReport, MatmulResult, StepResult } from '../../src/devices/bench.js';

const mm = (device: string, dtype: MatmulResult['dtype'], n: number, tflops: number): MatmulResult => ({ device, dtype, n, tflops, msPerCall: 1, peakTflops: null, peakSource: null });
const step = (device: string, model: 'mlp' | 'cnn', batch: number, samplesPerSec: number): StepResult => ({ device, model, batch, samplesPerSec, msPerStep: 1, speedupVsCpu: null });
const report = (precision: string, matmul: MatmulResult[], steps: StepResult[] = []): BenchReport => ({
  date: '', options: {} as BenchReport['options'], steps, matmul,
  devices: [{ name: 'cpu', description: 'cpu' }, { name: 'cuda', description: 'H100', precision }, { name: 'webgpu', description: 'H100 (Vulkan)' }],
});

it('matches GEMMs by dtype and precision, training by model and batch, and divides tessera by PyTorch', () => {
  const torch = [
    { what: 'meta', device: 'NVIDIA H100', torch: '2.5' },
    { what: 'gemm', dtype: 'bf16', n: 8192, tflops: 600 },
    { what: 'gemm', dtype: 'tf32', n: 4096, tflops: 300 },
    { what: 'gemm', dtype: 'fp32', n: 4096, tflops: 50 },
    { what: 'train', model: 'mlp', batch: 32, samples_per_s: 40000 },
  ];
  const tf32 = report('tf32', [mm('cuda', 'bfloat16', 8192, 570), mm('cuda', 'float32', 4096, 240), mm('cpu', 'float32', 4096, 1), mm('webgpu', 'float32', 4096, 20)],
    [step('cuda', 'mlp', 32, 60000), step('cpu', 'mlp', 32, 20000)]);
  const highest = report('highest', [mm('cuda', 'float32', 4096, 45)]);
  const rows = compareWithTorch(torch, [tf32, highest]);
  const by = (w: string, d: string) => rows.find((r) => r.workload === w && r.device === d);
  assert.equal(by('gemm bf16 8192^3', 'cuda')!.ratio, 0.95);
  assert.equal(by('gemm tf32 4096^3', 'cuda')!.ratio, 0.8);
  assert.equal(by('gemm fp32 4096^3', 'cuda')!.ratio, 0.9, 'strict float32 comes from the report run with precision highest');
  assert.equal(by('gemm fp32 4096^3', 'webgpu')!.ratio, 0.4, 'webgpu float32 is strict float32');
  assert.equal(by('gemm tf32 4096^3', 'webgpu'), undefined);
  assert.equal(by('gemm fp32 4096^3', 'cpu'), undefined, 'the CPU is not compared with PyTorch on a GPU');
  assert.equal(by('train mlp batch 32', 'cuda')!.ratio, 1.5);
  assert.equal(by('train mlp batch 32', 'cpu'), undefined);
  const onCpu = compareWithTorch([{ what: 'meta', device: 'cpu' }, { what: 'train', model: 'mlp', batch: 32, samples_per_s: 40000 }], [tf32]);
  assert.deepEqual(onCpu.map((r) => `${r.device} ${r.ratio}`), ['cpu 0.5'], 'PyTorch on the CPU is compared with the CPU backend only');
  const text = formatComparison(rows, 'NVIDIA H100');
  assert.match(text, /gemm bf16 8192\^3 +cuda +570\.0 +600\.0 +TFLOP\/s +0\.95x/);
});
