// tsr.profile(fn): where the time of some work goes, per op and device, timed on the device
// itself (GPU timestamp queries; the host clock for the synchronous CPU backend).
import { availableDevices, getBackend } from '../backends/registry.js';
import { activeCollector, setCollector } from '../backends/trace.js';
import { fail } from '../core/errors.js';
import { compiledTotals } from '../tensor/compile.js';

export interface ProfileRow {
  op: string;
  device: string;
  /** times the op ran (a gradient row, `<op>.grad`, counts backward passes through it) */
  calls: number;
  /** kernels the device ran for it */
  kernels: number;
  /** device time of those kernels */
  totalMs: number;
  /** totalMs / calls */
  meanMs: number;
}

export interface ProfileReport {
  /** sorted by device time, largest first; on timed devices, ops that launched no kernel (views) are left out */
  rows: ProfileRow[];
  /** for each device, where its times come from ('none': it has no kernel timer; 'not timed': left out) */
  clocks: Record<string, string>;
  wallMs: number;
  /** compiled steps during the profile: calls run eagerly, captures, replays, and signatures that fell back to eager */
  compiled: { eager: number; captures: number; replays: number; fallbacks: number };
  format(): string;
}

/**
 * Runs fn (sync or async) and reports the device time of every op it ran; `devices` limits
 * kernel timing to those devices (op calls are counted on all).
 * @example const { report } = await tsr.profile(() => model.fit(x, y, { epochs: 1 })); console.log(report.format());
 */
export async function profile<T>(fn: () => T | Promise<T>, opts: { devices?: readonly string[] } = {}): Promise<{ result: T; report: ProfileReport }> {
  if (activeCollector()) fail('profile', 'a profile is already running; profiles do not nest');
  const rows = new Map<string, ProfileRow>();
  const row = (op: string, device: string) => {
    const key = `${op}\u0000${device}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { op, device, calls: 0, kernels: 0, totalMs: 0, meanMs: 0 }));
    return r;
  };
  const devices = opts.devices ?? availableDevices();
  const clocks: Record<string, string> = {};
  for (const name of availableDevices()) clocks[name] = 'not timed';
  setCollector({ opCalled: (op, device) => { row(op, device).calls++; } });
  const started: { stop(): Promise<void> }[] = [];
  const timed = new Set<string>();
  const t0 = performance.now();
  const before = compiledTotals();
  let result: T;
  try {
    for (const name of devices) {
      const timer = getBackend(name).timer;
      clocks[name] = timer?.clock ?? 'none';
      if (!timer) continue;
      timer.start((op, ms) => {
        const r = row(op, name);
        r.kernels++;
        r.totalMs += ms;
      });
      started.push(timer);
      timed.add(name);
    }
    result = await fn();
  } finally {
    // stopping waits for the devices to finish and report every kernel
    await Promise.all(started.map((t) => t.stop()));
    setCollector(null);
  }
  const wallMs = performance.now() - t0;
  const after = compiledTotals();
  const compiled = { eager: after.eager - before.eager, captures: after.captures - before.captures, replays: after.replays - before.replays, fallbacks: after.fallbacks - before.fallbacks };
  const list = [...rows.values()]
    // a timed device's rows without kernels are views and other free ops
    .filter((r) => r.kernels > 0 || !timed.has(r.device))
    .map((r) => ({ ...r, meanMs: r.calls > 0 ? r.totalMs / r.calls : r.totalMs }))
    .sort((a, b) => b.totalMs - a.totalMs || b.calls - a.calls);
  return { result, report: { rows: list, clocks, wallMs, compiled, format: () => formatProfile(list, clocks, wallMs, compiled) } };
}

function formatProfile(rows: readonly ProfileRow[], clocks: Record<string, string>, wallMs: number, compiled: ProfileReport['compiled']): string {
  const total = rows.reduce((s, r) => s + r.totalMs, 0);
  const width = Math.max(10, ...rows.map((r) => r.op.length)) + 2;
  const lines = [`${'op'.padEnd(width)}${'device'.padEnd(9)}${'calls'.padStart(8)}${'kernels'.padStart(9)}${'total ms'.padStart(11)}${'mean ms'.padStart(10)}${'share'.padStart(8)}`];
  for (const r of rows) {
    const share = total > 0 ? `${((100 * r.totalMs) / total).toFixed(1)}%` : '-';
    lines.push(`${r.op.padEnd(width)}${r.device.padEnd(9)}${String(r.calls).padStart(8)}${String(r.kernels).padStart(9)}${r.totalMs.toFixed(3).padStart(11)}${r.meanMs.toFixed(4).padStart(10)}${share.padStart(8)}`);
  }
  const used = [...new Set(rows.map((r) => r.device))];
  lines.push(`device time ${total.toFixed(1)} ms of ${wallMs.toFixed(1)} ms wall; clocks: ${used.map((d) => `${d}: ${clocks[d]}`).join(', ') || 'none'}`);
  const c = compiled;
  if (c.eager + c.captures + c.replays > 0) lines.push(`compiled steps: ${c.replays} replays, ${c.captures} captures, ${c.eager} eager calls (a signature's first), ${c.fallbacks} fallbacks to eager`);
  return lines.join('\n');
}
