// The bench results as a terminal table, a Markdown report and an SVG bar chart of speed-ups.
import type { BenchReport, MatmulResult, StepResult } from './bench.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const speedup = (s: StepResult) => (s.speedupVsCpu === null ? '-' : `${s.speedupVsCpu.toFixed(2)}x`);
const flops = (m: MatmulResult) => (m.skipped ? 'skipped' : m.tflops >= 1 ? `${m.tflops.toFixed(2)} TFLOP/s` : `${(m.tflops * 1000).toFixed(1)} GFLOP/s`);
const ofPeak = (m: MatmulResult) => (m.skipped || m.peakTflops === null ? '-' : `${((100 * m.tflops) / m.peakTflops).toFixed(1)}%`);

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)];
}

const stepRows = (r: BenchReport) => r.steps.map((s) => [s.model, String(s.batch), s.device, s.msPerStep.toFixed(2), Math.round(s.samplesPerSec).toString(), speedup(s)]);
const STEP_HEAD = ['model', 'batch', 'device', 'ms/step', 'samples/s', 'vs cpu'];
const mmRows = (r: BenchReport) => r.matmul.map((m) => [`${m.n}^3`, m.dtype ?? 'float32', m.device, m.skipped ? '-' : m.msPerCall.toFixed(3), flops(m), ofPeak(m)]);
const MM_HEAD = ['matmul', 'dtype', 'device', 'ms', 'throughput', 'of peak'];

export function formatBench(r: BenchReport): string {
  return [
    ...table(STEP_HEAD, stepRows(r)),
    '',
    ...table(MM_HEAD, mmRows(r)),
    ...r.matmul.filter((m) => m.skipped).map((m) => `skipped on ${m.device} (${m.dtype}) at ${m.n}^3: ${m.skipped}`).filter((v, i, a) => a.indexOf(v) === i),
    ...peakNotes(r),
  ].join('\n');
}

function peakNotes(r: BenchReport): string[] {
  const seen = new Map<string, string>();
  for (const m of r.matmul) if (m.peakSource && m.peakTflops !== null) seen.set(m.device, `peak ${m.device}: ${m.peakTflops.toFixed(2)} TFLOP/s (${m.peakSource})`);
  return [...seen.values()];
}

export function benchMarkdown(r: BenchReport, chartFile: string): string {
  const md = (head: string[], rows: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
  const o = r.options;
  return [
    '# tessera bench',
    '',
    `Run on ${r.date}. Devices: ${r.devices.map((d) => `**${d.name}** (${d.description})`).join(', ')}.`,
    '',
    `Each figure is the median of ${o.repeats} repeats of ${o.steps} training steps (forward, backward, Adam) after ${o.warmupSteps} warm-up steps; every repeat ends by reading the loss back, so queued GPU work is counted. Inputs are random tensors of Fashion-MNIST's shape (28x28, 10 classes).`,
    '',
    `![training speed-up over the CPU backend](${chartFile})`,
    '',
    '## Training',
    '',
    ...md(STEP_HEAD, stepRows(r)),
    '',
    '"vs cpu" is samples per second divided by the CPU backend\'s for the same model and batch size.',
    '',
    '## Matrix multiply (float32)',
    '',
    ...md(MM_HEAD, mmRows(r)),
    '',
    ...peakNotes(r).map((p) => `- ${p}`),
    '',
  ].join('\n');
}

const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2'];

/** Grouped bars: one group per model and batch size, one bar per device, height = speed-up over the CPU. */
export function benchChart(r: BenchReport): string {
  const groups = [...new Set(r.steps.map((s) => `${s.model} / batch ${s.batch}`))];
  const devices = r.devices.map((d) => d.name);
  const value = (g: string, d: string) => r.steps.find((s) => `${s.model} / batch ${s.batch}` === g && s.device === d)?.speedupVsCpu ?? null;
  const values = groups.flatMap((g) => devices.map((d) => value(g, d))).filter((v): v is number => v !== null && Number.isFinite(v));
  // round tick steps (1, 2 or 5 x 10^k) so the axis labels are exact
  const rough = (Math.max(1, ...values) * 1.1) / 4;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= rough) ?? 10) * mag;
  const ticks = Math.ceil((Math.max(1, ...values) * 1.1) / step);
  const top = ticks * step;
  const W = 720, left = 64, right = 20, plotTop = 56, plotH = 260, legendRow = 18;
  const H = plotTop + plotH + 40 + legendRow * devices.length + 10;
  const plotW = W - left - right;
  const y = (v: number) => plotTop + plotH * (1 - v / top);
  const groupW = plotW / Math.max(1, groups.length), barW = Math.min(56, (groupW * 0.8) / Math.max(1, devices.length));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="17" font-weight="600">Training speed-up over the tessera CPU backend</text>`,
    `<text x="${W / 2}" y="42" text-anchor="middle" font-size="11" fill="#666">${esc(`samples/s relative to the cpu device (dashed line = 1x), Fashion-MNIST models, ${r.date.slice(0, 10)}`)}</text>`,
  ];
  for (let i = 0; i <= ticks; i++) {
    const v = i * step;
    const label = Number(v.toPrecision(6));
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`, `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">${label}x</text>`);
  }
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(1).toFixed(1)}" y2="${y(1).toFixed(1)}" stroke="#333" stroke-dasharray="5 4"/>`);
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + (groupW - barW * devices.length) / 2;
    devices.forEach((d, di) => {
      const v = value(g, d);
      if (v === null) return;
      const x = x0 + di * barW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${(plotTop + plotH - y(v)).toFixed(1)}" fill="${COLORS[di % COLORS.length]}"><title>${esc(`${g} on ${d}: ${v.toFixed(2)}x`)}</title></rect>`);
      parts.push(`<text x="${(x + (barW - 4) / 2).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle" font-size="11" stroke="white" stroke-width="3" paint-order="stroke">${v.toFixed(v < 10 ? 2 : 1)}x</text>`);
    });
    parts.push(`<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${plotTop + plotH + 18}" text-anchor="middle" font-size="12">${esc(g)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${left}" y1="${plotTop}" y2="${plotTop + plotH}" stroke="#999"/>`);
  r.devices.forEach((d, di) => {
    const ly = plotTop + plotH + 44 + di * legendRow;
    const text = `${d.name}: ${d.description}`;
    parts.push(`<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${COLORS[di % COLORS.length]}"/>`, `<text x="${left + 18}" y="${ly}" font-size="12">${esc(text.length > 95 ? `${text.slice(0, 94)}…` : text)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
