// Checks an op on a device against its float64 reference: forward values, and gradients
// against central finite differences of the reference.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as tsr from '../../src/index.js';
import { Arr } from './reference.js';

/** Deterministic float64 stream (xorshift), so test inputs never depend on tessera's RNG. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed * 2654435761 % 4294967296 || 1; }
  next(): number {
    let x = this.s;
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    this.s = x;
    return x / 4294967296;
  }
  uniform(lo = -1, hi = 1): number { return lo + (hi - lo) * this.next(); }
  /** float64 values that are exactly representable in float32 */
  arr(shape: number[], lo = -1, hi = 1): Arr { return Arr.of(shape, () => Math.fround(this.uniform(lo, hi))); }
}

export function toTensor(a: Arr, device: string, dtype: tsr.DType = 'float32'): tsr.Tensor {
  const data = dtype === 'float32' ? Float32Array.from(a.data) : dtype === 'int32' ? Int32Array.from(a.data) : Uint8Array.from(a.data);
  return tsr.tensor(data, { shape: a.shape, device, dtype });
}

export async function toArr(t: tsr.Tensor): Promise<Arr> {
  return new Arr([...t.shape], Float64Array.from(await t.data()));
}

export interface Tolerance { atol: number; rtol: number }
export const FORWARD_TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };
export const GRAD_TOL: Tolerance = { atol: 2e-4, rtol: 2e-3 };

export function assertClose(actual: Arr, expected: Arr, tol: Tolerance, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  let worst = 0, where = -1;
  for (let i = 0; i < expected.size; i++) {
    const a = actual.data[i]!, e = expected.data[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const err = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(err <= worst)) { worst = Number.isNaN(err) ? Infinity : err; where = i; }
  }
  if (where >= 0) {
    assert.fail(`${what}: element ${where} is ${actual.data[where]}, expected ${expected.data[where]} (atol ${tol.atol}, rtol ${tol.rtol})`);
  }
}

export interface OpCase {
  name: string;
  inputs: Arr[];
  /** dtypes of the inputs on the device (default float32) */
  dtypes?: tsr.DType[];
  run: (...xs: tsr.Tensor[]) => tsr.Tensor;
  reference: (...xs: Arr[]) => Arr;
  /** indices of inputs to gradient-check (default: every float32 input) */
  grad?: number[];
  forwardTol?: Tolerance;
  gradTol?: Tolerance;
}

/** Forward against the reference, then d(sum(op * w))/dx against central differences of the reference. */
export async function checkOp(device: string, c: OpCase, rng = new Rng(7)): Promise<void> {
  const dtypes = c.dtypes ?? c.inputs.map(() => 'float32' as const);
  const gradIdx = c.grad ?? dtypes.flatMap((d, i) => (d === 'float32' ? [i] : []));
  const xs = c.inputs.map((a, i) => toTensor(a, device, dtypes[i]));
  gradIdx.forEach((i) => xs[i]!.requireGrad());
  const y = c.run(...xs);
  const expected = c.reference(...c.inputs);
  assertClose(await toArr(y), expected, c.forwardTol ?? FORWARD_TOL, `${c.name} forward on ${device}`);
  if (gradIdx.length === 0 || expected.size === 0) return;
  const w = rng.arr(expected.shape);
  const wt = toTensor(w, device);
  tsr.mul(y, wt).sum().backward();
  const objective = (inputs: Arr[]) => {
    const out = c.reference(...inputs);
    let s = 0;
    for (let i = 0; i < out.size; i++) s += out.data[i]! * w.data[i]!;
    return s;
  };
  for (const i of gradIdx) {
    const x = c.inputs[i]!;
    const numeric = Arr.of(x.shape, (j) => {
      const h = 1e-6 * Math.max(1, Math.abs(x.data[j]!));
      const plus = c.inputs.map((a) => a.clone()), minus = c.inputs.map((a) => a.clone());
      plus[i]!.data[j]! += h;
      minus[i]!.data[j]! -= h;
      return (objective(plus) - objective(minus)) / (2 * h);
    });
    const g = xs[i]!.grad;
    assert.ok(g, `${c.name}: input ${i} got no gradient on ${device}`);
    assertClose(await toArr(g), numeric, c.gradTol ?? GRAD_TOL, `${c.name} gradient of input ${i} on ${device}`);
  }
}

// GPU devices are opened only for the passes that test them (an open Dawn device keeps a core
// busy), and closed after each file so the process can exit
// the fake PJRT plugin runs programs through the test interpreter, which this process installs
if (process.env['TESSERA_FAKE_PJRT']) {
  const fake = (await import('./fake-pjrt.js')).installFakePjrt(process.env['TESSERA_PJRT_PLUGIN']);
  process.env['TESSERA_PJRT_PLUGIN'] = fake.path;
}
const requested = (process.env['TESSERA_TEST_DEVICES'] ?? 'cpu').split(',').map((s) => s.trim()).filter(Boolean);
if (requested.some((d) => d !== 'cpu')) {
  await tsr.initDevices();
  after(() => tsr.releaseDevices());
}

/**
 * Devices the suite runs on: TESSERA_TEST_DEVICES (comma-separated, default cpu). A requested
 * device that is not available fails the run with the reason, rather than passing silently.
 */
export function testDevices(): string[] {
  for (const d of requested) {
    if (!tsr.availableDevices().includes(d)) {
      throw new Error(`TESSERA_TEST_DEVICES asks for '${d}', which is unavailable: ${tsr.unavailableDevices()[d] ?? 'unknown device'}`);
    }
  }
  return requested;
}

/** The value of a one-element tensor, read asynchronously (works on every device). */
export async function scalar(t: tsr.Tensor): Promise<number> {
  return (await t.data())[0]!;
}

/** Whether the host reads the device synchronously (cpu; cuda, whose copies block anyway). */
export function hostReadable(device: string): boolean {
  return typeof tsr.getBackend(device).readSync === 'function';
}

/**
 * Live memory after unreachable tensors are collected (node --expose-gc), so counts taken at
 * two moments compare what the code under test holds, not when the GC last ran.
 */
export async function settledMemory(): Promise<tsr.MemoryInfo> {
  if (typeof globalThis.gc !== 'function') return tsr.memory();
  // finalizers run in their own tasks after a collection: wait until the count stops moving
  // (three quiet rounds in a row: under a loaded machine a finalizer can lag a round)
  let last = -1, quiet = 0;
  for (let i = 0; i < 60 && quiet < 3; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 10));
    const now = tsr.memory().numTensors;
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  return tsr.memory();
}

/** An index error: raised at once where the host reads device memory (cpu), else by the next read (see Backend.checkIndices). */
export async function raisesIndexError(make: () => tsr.Tensor, pattern: RegExp): Promise<void> {
  let t: tsr.Tensor;
  try {
    t = make();
  } catch (e) {
    assert.ok(e instanceof tsr.TesseraError, String(e));
    assert.match(e.message, pattern);
    return;
  }
  try {
    await assert.rejects(t.data(), (e: unknown) => e instanceof tsr.TesseraError && pattern.test(e.message));
  } finally {
    t.dispose();
  }
}

/**
 * The gradients backward() left on each tensor of `targets` against central differences of
 * the scalar `loss()` (each element nudged in place by ±step), at most `samples` elements each.
 * Clears the gradients afterwards.
 */
export async function checkGradsByDifferences(what: string, loss: () => tsr.Tensor, targets: readonly (readonly [string, tsr.Tensor])[], opts: { samples?: number; atol?: number; rtol?: number; step?: number } = {}): Promise<void> {
  const { samples = Infinity, atol = 3e-3, rtol = 2e-2, step = 1e-2 } = opts;
  loss().backward();
  for (const [name, t] of targets) {
    const g = await t.grad!.data();
    const base = Float32Array.from(await t.data());
    const every = Math.max(1, Math.floor(base.length / Math.min(samples, base.length)));
    for (let i = 0; i < base.length; i += every) {
      const value = async (d: number) => {
        const v = Float32Array.from(base);
        v[i] = v[i]! + d;
        t.backend.write(t.storageView.storage, v);
        return (await tsr.noGrad(loss).data())[0]!;
      };
      const fd = ((await value(step)) - (await value(-step))) / (2 * step);
      t.backend.write(t.storageView.storage, base);
      if (!(Math.abs(g[i]! - fd) < atol + rtol * Math.abs(fd))) throw new Error(`${what} d/d${name}[${i}]: ${g[i]} vs ${fd} by central differences`);
    }
    t.zeroGrad();
  }
}
