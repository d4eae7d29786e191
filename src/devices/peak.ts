// Float32 peak throughput, where it is known, so benchmarks can say how close they come.
import { nodeBuiltin } from '../core/platform.js';
import type { DeviceInfo } from '../backends/backend.js';

/** Vendor figures for float32 on the regular (non-tensor) cores, TFLOP/s, by adapter name. */
const GPU_FP32_PEAK: readonly [RegExp, number][] = [
  [/H200/i, 66.9], [/H100.*(PCIe|NVL)/i, 51.2], [/H100/i, 66.9], [/A100/i, 19.5], [/L40S/i, 91.6], [/\bL4\b/i, 30.3],
  [/A10\b/i, 31.2], [/\bT4\b/i, 8.1], [/V100/i, 15.7], [/RTX 4090/i, 82.6], [/RTX 3090/i, 35.6],
];

export interface Peak { tflops: number; source: string }

export function float32Peak(info: DeviceInfo): Peak | null {
  if (info.kind === 'gpu') {
    const hit = GPU_FP32_PEAK.find(([re]) => re.test(info.description));
    return hit ? { tflops: hit[1], source: 'vendor float32 figure' } : null;
  }
  if (info.kind !== 'cpu') return null;
  return cpuPeakEstimate(Number(info.details['cores']) || 1);
}

/** cores x clock x float32 FLOPs per cycle (two FMA units of the widest vector width). */
function cpuPeakEstimate(cores: number): Peak | null {
  try {
    const text = nodeBuiltin('fs')?.readFileSync('/proc/cpuinfo', 'utf8') ?? '';
    const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(text)?.[1]);
    const flags = new Set((/^flags\s*:(.*)$/m.exec(text)?.[1] ?? '').trim().split(/\s+/));
    if (!(mhz > 0)) return null;
    const perCycle = flags.has('avx512f') ? 64 : flags.has('avx2') && flags.has('fma') ? 32 : flags.has('avx') ? 16 : 8;
    return { tflops: (cores * mhz * 1e6 * perCycle) / 1e12, source: `estimate: ${cores} cores x ${(mhz / 1000).toFixed(2)} GHz x ${perCycle} FLOP/cycle` };
  } catch {
    return null;
  }
}
