// `tessera verify`: proof that a device computes correctly and that the work really ran on it.
// Each check runs on the device under the profiler and is compared with a float64 CPU reference.
import { availableDevices, getBackend } from '../backends/registry.js';
import { add, conv2d, crossEntropy, matmul, tanh, tensor } from '../ops/index.js';
import { sgd } from '../optim/sgd.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { profile } from './profile.js';
import { type Conv64, conv2d64, hostValues, matmul64, mlpStep64 } from './reference64.js';

export interface CheckOutcome {
  got: ArrayLike<number>;
  want: ArrayLike<number>;
}

export interface VerifyCheck {
  name: string;
  /** allowed max |got - want|, relative to max(1, max |want|); 200x that on a device computing in TF32 */
  tolerance: number;
  run(device: string): Promise<CheckOutcome>;
}

export interface VerifyResult {
  device: string;
  check: string;
  /** max |got - want| */
  maxError: number;
  /** the absolute bound maxError was held to */
  bound: number;
  wallMs: number;
  /** kernels the device ran and their device time, from its own timer */
  kernels: number;
  deviceMs: number;
  clock: string;
  ok: boolean;
  /** why it failed, when it did */
  problem?: string;
}

const upload = (values: Float64Array, shape: number[], device: string, requiresGrad = false) =>
  tensor(Float32Array.from(values), { shape, device, requiresGrad });

const matmulCheck: VerifyCheck = {
  name: 'matmul 67x129 @ 129x45',
  tolerance: 1e-5,
  async run(device) {
    const [m, k, n] = [67, 129, 45];
    const a = hostValues(m * k, 1), b = hostValues(k * n, 2);
    const c = tidy(() => matmul(upload(a, [m, k], device), upload(b, [k, n], device)));
    return { got: await readAndDispose(c), want: matmul64(a, b, m, k, n) };
  },
};

const convShape: Conv64 = { batch: 2, h: 11, w: 9, cin: 3, kh: 3, kw: 3, cout: 7, stride: 2, pad: 1 };
const convCheck: VerifyCheck = {
  name: 'conv2d 2x11x9x3, 3x3x3x7, stride 2',
  tolerance: 1e-5,
  async run(device) {
    const c = convShape;
    const x = hostValues(c.batch * c.h * c.w * c.cin, 3), k = hostValues(c.kh * c.kw * c.cin * c.cout, 4);
    const y = tidy(() => conv2d(upload(x, [c.batch, c.h, c.w, c.cin], device), upload(k, [c.kh, c.kw, c.cin, c.cout], device), { strides: c.stride, padding: c.pad }));
    return { got: await readAndDispose(y), want: conv2d64(x, k, c).out };
  },
};

const trainCheck: VerifyCheck = {
  name: 'training step (MLP 12-20-5, SGD)',
  tolerance: 1e-5,
  async run(device) {
    const [n, din, hidden, classes, lr] = [16, 12, 20, 5, 0.5];
    const x = hostValues(n * din, 5);
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % classes);
    const p = { w1: hostValues(din * hidden, 6), b1: hostValues(hidden, 7), w2: hostValues(hidden * classes, 8), b2: hostValues(classes, 9) };
    const params = [upload(p.w1, [din, hidden], device, true), upload(p.b1, [hidden], device, true), upload(p.w2, [hidden, classes], device, true), upload(p.b2, [classes], device, true)];
    const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
    const loss = tidy(() => {
      const h = tanh(add(matmul(upload(x, [n, din], device), w1), b1));
      const l = crossEntropy(add(matmul(h, w2), b2), tensor(labels, { shape: [n], device }));
      l.backward();
      return l;
    });
    sgd({ learningRate: lr }).step(params);
    const got = [await readAndDispose(loss)];
    for (const t of params) got.push(await readAndDispose(t));
    const ref = mlpStep64(x, labels, p, n, din, hidden, classes, lr);
    const want = [[ref.loss], ref.next.w1, ref.next.b1, ref.next.w2, ref.next.b2];
    return { got: got.flatMap((a) => [...a]), want: want.flatMap((a) => [...a]) };
  },
};

async function readAndDispose(t: Tensor): Promise<Float32Array> {
  const data = (await t.data()) as Float32Array;
  if (t.grad) t.grad.dispose();
  t.dispose();
  return data;
}

/** How much looser a device that multiplies in TF32 is held (2^-10 against float32's 2^-23, with margin). */
const TF32_FACTOR = 200;

export const STANDARD_CHECKS: readonly VerifyCheck[] = [matmulCheck, convCheck, trainCheck];

/** Runs each check on each device (default: every available one). */
export async function verifyDevices(devices: readonly string[] = availableDevices(), checks: readonly VerifyCheck[] = STANDARD_CHECKS): Promise<VerifyResult[]> {
  const results: VerifyResult[] = [];
  for (const device of devices) {
    const clock = getBackend(device).timer?.clock ?? 'none';
    for (const check of checks) results.push(await runCheck(device, check, clock));
  }
  return results;
}

async function runCheck(device: string, check: VerifyCheck, clock: string): Promise<VerifyResult> {
  const base = { device, check: check.name, maxError: NaN, bound: NaN, wallMs: 0, kernels: 0, deviceMs: 0, clock };
  const t0 = performance.now();
  let outcome: CheckOutcome, rows;
  try {
    const { result, report } = await profile(() => check.run(device), { devices: [device] });
    outcome = result;
    rows = report.rows;
  } catch (e) {
    return { ...base, wallMs: performance.now() - t0, ok: false, problem: `error: ${(e as Error).message}` };
  }
  const wallMs = performance.now() - t0;
  const here = rows.filter((r) => r.device === device);
  const kernels = here.reduce((s, r) => s + r.kernels, 0);
  const deviceMs = here.reduce((s, r) => s + r.totalMs, 0);
  const elsewhere = [...new Set(rows.filter((r) => r.device !== device).map((r) => r.device))];
  const { got, want } = outcome;
  let maxError = got.length === want.length ? 0 : Infinity, scale = 1;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const err = Math.abs(got[i]! - want[i]!);
    // NaN must fail, and Math.max would swallow it
    maxError = Number.isNaN(err) || err > maxError ? (Number.isNaN(err) ? Infinity : err) : maxError;
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  // TF32 tensor cores keep 10 mantissa bits: products are held to that precision (about 1e-3)
  const tf32 = getBackend(device).info().matmulPrecision === 'tf32';
  const bound = check.tolerance * scale * (tf32 ? TF32_FACTOR : 1);
  const problems: string[] = [];
  if (got.length !== want.length) problems.push(`${got.length} values, expected ${want.length}`);
  else if (!(maxError <= bound)) problems.push(`max error ${maxError.toExponential(2)} above ${bound.toExponential(2)}`);
  if (clock !== 'none' && kernels === 0) problems.push(`the ${device} timer saw no kernel run`);
  if (elsewhere.length) problems.push(`ops also ran on ${elsewhere.join(', ')}`);
  return { ...base, maxError, bound, wallMs, kernels, deviceMs, ok: problems.length === 0, ...(problems.length ? { problem: problems.join('; ') } : {}) };
}

export function formatVerify(results: readonly VerifyResult[]): string {
  const width = Math.max(5, ...results.map((r) => r.check.length)) + 2;
  const lines = [`${'device'.padEnd(9)}${'check'.padEnd(width)}${'max error'.padStart(11)}${'bound'.padStart(10)}${'time ms'.padStart(9)}  ${'on-device evidence'.padEnd(34)}result`];
  for (const r of results) {
    const evidence = r.clock === 'none' ? 'no device timer' : `${r.kernels} kernels, ${r.deviceMs.toFixed(3)} ms`;
    lines.push(`${r.device.padEnd(9)}${r.check.padEnd(width)}${r.maxError.toExponential(2).padStart(11)}${r.bound.toExponential(1).padStart(10)}${r.wallMs.toFixed(1).padStart(9)}  ${evidence.padEnd(34)}${r.ok ? 'OK' : `FAIL: ${r.problem}`}`);
  }
  const clocks = [...new Set(results.map((r) => `${r.device}: ${r.clock}`))];
  lines.push(`evidence clocks: ${clocks.join(', ')}; reference: float64 on the host`);
  return lines.join('\n');
}
