// Property-based tests of the public API (fast-check, fixed seed, bounded runs): random shapes,
// dtypes, options and values, NaN, infinities, empty tensors and wrong types. Every call either
// returns what a float64 reference computes or throws a TesseraError naming the op; never
// another exception, a hang (each case has a time limit) or a NaN the reference does not have.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tsr from '../../src/index.js';
import { testDevices } from '../helpers/check.js';

const SEED = 20261201;
const CASE_MS = 10_000;

type Shape = number[];
const size = (s: Shape) => s.reduce((a, b) => a * b, 1);

/** A value in float32, with the special values mixed in. */
const value = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: -100, max: 100, noNaN: true }).map(Math.fround) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 3e38, -3e38, 1e-40) },
);
const shape = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });
const tensorData = (s: Shape) => fc.array(value, { minLength: size(s), maxLength: size(s) });

/** Something that is not what the op expects, in place of an option (undefined and null mean the default there, as Python's None). */
const junk = fc.constantFrom<unknown>('abc', 3.5, -1, NaN, {}, [1, [2]], () => 1, true);
/** ... and in place of a tensor argument. */
const junkTensor = fc.oneof(junk.filter((v) => typeof v !== 'number'), fc.constantFrom(undefined, null));

/** NumPy broadcasting, or null where the shapes do not broadcast. */
function broadcast(a: Shape, b: Shape): Shape | null {
  const rank = Math.max(a.length, b.length), out: Shape = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Index of the broadcast element `flat` of `out` in an operand of shape `s`. */
function sourceIndex(flat: number, out: Shape, s: Shape): number {
  let idx = 0, stride = 1;
  for (let i = out.length - 1; i >= 0; i--) {
    const coord = flat % out[i]!;
    flat = Math.floor(flat / out[i]!);
    const j = s.length - out.length + i;
    if (j >= 0) {
      if (s[j] !== 1) idx += coord * stride;
      stride *= s[j]!;
    }
  }
  return idx;
}

const f32 = Math.fround;
const UNARY: Record<string, [(x: tsr.Tensor) => tsr.Tensor, (v: number) => number]> = {
  relu: [tsr.relu, (v) => (Number.isNaN(v) ? NaN : v > 0 ? v : 0)],
  abs: [tsr.abs, Math.abs],
  neg: [tsr.neg, (v) => -v],
  exp: [tsr.exp, Math.exp],
  tanh: [tsr.tanh, Math.tanh],
  sigmoid: [tsr.sigmoid, (v) => 1 / (1 + Math.exp(-v))],
};
const BINARY: Record<string, [(a: tsr.Tensor, b: tsr.Tensor) => tsr.Tensor, (a: number, b: number) => number]> = {
  add: [tsr.add, (a, b) => a + b],
  sub: [tsr.sub, (a, b) => a - b],
  mul: [tsr.mul, (a, b) => a * b],
  maximum: [tsr.maximum, (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b))],
  minimum: [tsr.minimum, (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b))],
};

/** float32 results against float64 references: NaN where and only where the reference is NaN. */
function agree(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = f32(expected[i]!);
    if (Number.isNaN(e)) { assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`); continue; }
    assert.ok(!Number.isNaN(a), `${what}[${i}]: NaN where the reference is ${e}`);
    if (!Number.isFinite(e) || !Number.isFinite(a)) { assert.equal(a, e, `${what}[${i}]`); continue; }
    assert.ok(Math.abs(a - e) <= 1e-5 + 1e-4 * Math.abs(e), `${what}[${i}]: ${a} vs ${e}`);
  }
}

/** Either the call's own check passes, or it threw a TesseraError naming `op`. */
async function outcome(op: string, run: () => Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${op}: no answer within ${CASE_MS} ms`)), CASE_MS); });
  try {
    await Promise.race([run(), limit]);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof tsr.TesseraError, `${op} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.ok(e.message.length > op.length, `${op}: an empty message`);
  } finally {
    clearTimeout(timer);
  }
}

for (const device of testDevices()) {
  // lavapipe compiles a pipeline per new kernel: fewer cases there
  const numRuns = device === 'cpu' ? 150 : 40;
  describe(`property-based API checks on ${device}`, () => {
    it('unary ops agree with float64 on any shape and values, or reject wrong arguments by name', async () => {
      await fc.assert(fc.asyncProperty(
        fc.constantFrom(...Object.keys(UNARY)), shape.chain((s) => fc.tuple(fc.constant(s), tensorData(s))), fc.option(junkTensor, { freq: 5, nil: null }),
        async (name, [s, data], bad) => {
          const [op, ref] = UNARY[name]!;
          await outcome(name, async () => {
            const arg = bad !== null ? (bad as tsr.Tensor) : tsr.tensor(Float32Array.from(data), { shape: s, device });
            const out = op(arg);
            assert.equal(bad, null, `${name} accepted ${String(bad)}`);
            assert.deepEqual(out.shape, s);
            agree(await out.data(), data.map(ref), name);
          });
        }), { seed: SEED, numRuns });
    });

    it('binary ops broadcast as NumPy does or name both shapes', async () => {
      await fc.assert(fc.asyncProperty(
        fc.constantFrom(...Object.keys(BINARY)),
        fc.tuple(shape, shape).chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), tensorData(a), tensorData(b))),
        async (name, [sa, sb, da, db]) => {
          const [op, ref] = BINARY[name]!;
          const out = broadcast(sa, sb);
          await outcome(name, async () => {
            const r = op(tsr.tensor(Float32Array.from(da), { shape: sa, device }), tsr.tensor(Float32Array.from(db), { shape: sb, device }));
            assert.ok(out, `${name} broadcast [${sa}] and [${sb}]`);
            assert.deepEqual(r.shape, out);
            agree(await r.data(), Array.from({ length: size(out) }, (_, i) => ref(da[sourceIndex(i, out, sa)]!, db[sourceIndex(i, out, sb)]!)), name);
          });
        }), { seed: SEED, numRuns });
    });

    it('sum, max and min over any axis (or a bad one) agree with float64 or reject by name', async () => {
      await fc.assert(fc.asyncProperty(
        fc.constantFrom('sum', 'max', 'min'), shape.chain((s) => fc.tuple(fc.constant(s), tensorData(s))), fc.integer({ min: -4, max: 3 }),
        async (name, [s, data], axis) => {
          await outcome(name, async () => {
            const x = tsr.tensor(Float32Array.from(data), { shape: s, device });
            const r = (tsr as unknown as Record<string, (x: tsr.Tensor, a: number) => tsr.Tensor>)[name]!(x, axis);
            // a scalar reduces over axis 0 or -1 to itself, as in PyTorch
            if (s.length === 0) {
              assert.ok(axis === 0 || axis === -1, `${name} accepted axis ${axis} for a scalar`);
              agree(await r.data(), data, name);
              return;
            }
            const a = axis < 0 ? axis + s.length : axis;
            assert.ok(a >= 0 && a < s.length, `${name} accepted axis ${axis} for rank ${s.length}`);
            const outer = size(s.slice(0, a)), n = s[a]!, inner = size(s.slice(a + 1));
            const expected: number[] = [];
            for (let o = 0; o < outer; o++) {
              for (let i = 0; i < inner; i++) {
                const terms = Array.from({ length: n }, (_, j) => data[(o * n + j) * inner + i]!);
                expected.push(name === 'sum' ? terms.reduce((p, q) => p + q, 0)
                  : terms.some(Number.isNaN) ? NaN : name === 'max' ? Math.max(...terms) : Math.min(...terms));
              }
            }
            const got = await r.data();
            if (name === 'sum') {
              // float32 accumulation order may differ where terms are huge: compare where the reference is tame
              agree(Array.from(got).map((v, i) => (Math.abs(expected[i]!) < 1e30 || !Number.isFinite(expected[i]!) ? v : f32(expected[i]!))), expected, name);
            } else {
              agree(got, expected, name);
            }
          });
        }), { seed: SEED, numRuns });
    });

    it('creation ops accept only real shapes, dtypes and values', async () => {
      await fc.assert(fc.asyncProperty(
        fc.oneof(shape, junk), fc.oneof(fc.constantFrom('float32', 'int32', 'bool', 'float16', 'bfloat16'), junk), fc.oneof(value, junk),
        async (s, dtype, v) => {
          await outcome('full', async () => {
            const t = tsr.full(s as number[], v as number, { dtype: dtype as tsr.DType, device });
            assert.ok(Array.isArray(s) && typeof dtype === 'string' && (typeof v === 'number' || typeof v === 'boolean'), `full accepted ${String(s)}, ${String(dtype)}, ${String(v)}`);
            const got = await t.data();
            assert.equal(got.length, size(s as number[]));
            const n = Number(v);
            const want = dtype === 'bool' ? (n !== 0 ? 1 : 0) : dtype === 'int32' ? n : dtype === 'float32' ? f32(n) : NaN;
            if (dtype !== 'float16' && dtype !== 'bfloat16') for (const g of got) assert.ok(Object.is(g, want) || g === want, `full ${dtype} ${v}: ${g}`);
          });
          await outcome('randn', async () => {
            const t = tsr.randn(s as number[], { seed: 1, dtype: dtype as tsr.DType, device });
            assert.ok(['float32', 'float16', 'bfloat16'].includes(dtype as string), `randn accepted dtype ${String(dtype)}`);
            for (const g of await t.data()) assert.ok(Number.isFinite(g), `randn gave ${g}`);
          });
        }), { seed: SEED, numRuns });
    });
  });
}

describe('property-based checks of the training surface (cpu)', () => {
  it('predict and evaluate take any batch size that is a positive integer and refuse the rest', async () => {
    tsr.setSeed(0);
    const m = tsr.sequential([tsr.layers.dense({ units: 3, inputShape: [2] })]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = tsr.randn([9, 2], { seed: 1 }), y = tsr.randn([9, 3], { seed: 2 });
    const whole = [...await m.predict(x).data()];
    await fc.assert(fc.asyncProperty(fc.oneof(fc.integer({ min: -3, max: 12 }), fc.double(), junk), async (batchSize) => {
      await outcome('predict', async () => {
        const p = m.predict(x, { batchSize: batchSize as number });
        assert.ok(Number.isInteger(batchSize) && (batchSize as number) >= 1, `predict accepted batchSize ${String(batchSize)}`);
        assert.deepEqual(p.shape, [9, 3]);
        agree(await p.data(), whole, 'predict');
        p.dispose();
      });
      await outcome('evaluate', async () => {
        const logs = await m.evaluate(x, y, { batchSize: batchSize as number });
        assert.ok(Number.isFinite(logs['loss']), `evaluate loss ${logs['loss']}`);
      });
    }), { seed: SEED, numRuns: 60 });
  });
});
