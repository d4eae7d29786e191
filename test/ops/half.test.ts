// float16 and bfloat16 tensors on every device: rounding kernels agree bit for bit with the
// host, matrix products match a float64 reference within the half format's rounding, and
// arithmetic on half tensors is a clear error rather than a silent precision change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { roundHalf } from '../../src/core/half.js';
import { Rng, testDevices } from '../helpers/check.js';

const HALVES = ['bfloat16', 'float16'] as const;
/** Values that exercise ties, subnormals, overflow, signed zero and NaN in both formats. */
const TRICKY = [1, -2, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65520, 1e6, -1e6, 2 ** -24, 1.5 * 2 ** -25,
  3 * 2 ** -25, 2 ** -130, -0, 0.1, -3.14159, 1e-3, 3.4e38, NaN, Infinity, -Infinity];
/** Relative half ulp of each format at 1: results may differ from the exact product by one rounding. */
const EPS = { bfloat16: 2 ** -8, float16: 2 ** -11 } as const;

function same(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    const ok = Object.is(got[i], want[i]) || (got[i] === 0 && want[i] === 0);
    assert.ok(ok, `${what}: element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

/** Float64 product of row-major matrices. */
function product(a: Float32Array, b: Float32Array, m: number, k: number, n: number): { value: Float64Array; magnitude: Float64Array } {
  const value = new Float64Array(m * n), magnitude = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0, t = 0;
    for (let p = 0; p < k; p++) { s += a[i * k + p]! * b[p * n + j]!; t += Math.abs(a[i * k + p]! * b[p * n + j]!); }
    value[i * n + j] = s;
    magnitude[i * n + j] = t;
  }
  return { value, magnitude };
}

for (const device of testDevices()) {
  describe(`float16 and bfloat16 on ${device}`, () => {
    const rng = new Rng(5);

    for (const dtype of HALVES) {
      it(`${dtype}: cast from float32 rounds as the host does, and back to float32 is exact`, async () => {
        const x = tsr.tensor(TRICKY, { device });
        const h = x.cast(dtype);
        assert.equal(h.dtype, dtype);
        const want = TRICKY.map((v) => roundHalf(dtype, v));
        same(await h.data(), want, `${dtype} data`);
        same(await h.cast('float32').data(), want, `${dtype} -> float32`);
        // created directly from values, the same rounding applies
        same(await tsr.tensor(TRICKY, { dtype, device }).data(), want, `tensor(..., { dtype: '${dtype}' })`);
        same(await tsr.full([3], 0.1, { dtype, device }).data(), [0, 0, 0].map(() => roundHalf(dtype, 0.1)), 'full');
      });

      it(`${dtype}: conversions to int32, bool and the other half format`, async () => {
        const h = tsr.tensor([2.75, -1.5, 0, 300.3], { dtype, device });
        same(await h.cast('int32').data(), [2, -1, 0, Math.trunc(roundHalf(dtype, 300.3))], 'to int32');
        same(await h.cast('bool').data(), [1, 1, 0, 1], 'to bool');
        const other = dtype === 'float16' ? 'bfloat16' : 'float16';
        same(await h.cast(other).data(), [2.75, -1.5, 0, roundHalf(other, roundHalf(dtype, 300.3))], `to ${other}`);
        same(await tsr.tensor([7, -3], { dtype: 'int32', device }).cast(dtype).data(), [7, -3], 'from int32');
      });

      it(`${dtype}: copies, transposed views, gather and device transfer keep values exactly`, async () => {
        const values = Array.from({ length: 12 }, (_, i) => roundHalf(dtype, Math.sin(i) * 10));
        const h = tsr.tensor(values, { dtype, device, shape: [3, 4] });
        const t = h.T.contiguous();
        assert.equal(t.dtype, dtype);
        same(await t.data(), [0, 1, 2, 3].flatMap((c) => [0, 1, 2].map((r) => values[r * 4 + c]!)), 'transpose copy');
        same(await tsr.gather(h, tsr.tensor([2, 0], { dtype: 'int32', device }), 0).data(), [...values.slice(8), ...values.slice(0, 4)], 'gather');
        same(await tsr.tensor(values, { dtype, device: 'cpu', shape: [3, 4] }).to(device).data(), values, 'from the cpu');
      });

      for (const [m, k, n] of [[5, 7, 3], [33, 130, 17], [64, 256, 48]] as const) {
        it(`${dtype}: matmul ${m}x${k}x${n} is within one ${dtype} rounding of the float64 product`, async () => {
          const a = tsr.tensor(Float32Array.from(rng.arr([m, k]).data), { dtype, device, shape: [m, k] });
          const b = tsr.tensor(Float32Array.from(rng.arr([k, n]).data), { dtype, device, shape: [k, n] });
          const c = tsr.matmul(a, b);
          assert.equal(c.dtype, dtype);
          assert.deepEqual(c.shape, [m, n]);
          const got = await c.data();
          const { value, magnitude } = product(await a.data() as Float32Array, await b.data() as Float32Array, m, k, n);
          for (let i = 0; i < value.length; i++) {
            // one rounding to the half format, plus float32 accumulation (TF32 is not used for half inputs)
            const tol = EPS[dtype] * Math.abs(value[i]!) + 2 ** -22 * magnitude[i]!;
            assert.ok(Math.abs(got[i]! - value[i]!) <= tol, `element ${i}: ${got[i]} vs ${value[i]} (tol ${tol})`);
            assert.equal(got[i], roundHalf(dtype, got[i]!), `element ${i} is a ${dtype} value`);
          }
        });
      }

      it(`${dtype}: batched and transposed operands`, async () => {
        const a = tsr.tensor(Float32Array.from(rng.arr([2, 6, 5]).data), { dtype, device, shape: [2, 6, 5] });
        const b = tsr.tensor(Float32Array.from(rng.arr([2, 4, 5]).data), { dtype, device, shape: [2, 4, 5] });
        const c = tsr.matmul(a, b.transpose([0, 2, 1]));
        const ref = tsr.matmul(a.cast('float32'), b.cast('float32').transpose([0, 2, 1])).cast(dtype);
        const got = await c.data(), want = await ref.data();
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 2 * EPS[dtype] * Math.abs(want[i]!) + 1e-6, `element ${i}: ${got[i]} vs ${want[i]}`);
      });

      it(`${dtype}: arithmetic, reductions and gradients need float32, with errors naming op and dtype`, () => {
        const h = tsr.tensor([1, 2, 3], { dtype, device });
        assert.throws(() => tsr.add(h, h), (e: Error) => /add/.test(e.message) && e.message.includes(dtype) && /cast/.test(e.message));
        assert.throws(() => tsr.exp(h), (e: Error) => /exp/.test(e.message) && e.message.includes(dtype));
        assert.throws(() => tsr.sum(h), (e: Error) => /sum/.test(e.message) && e.message.includes(dtype));
        assert.throws(() => tsr.matmul(h.reshape([1, 3]), tsr.ones([3, 1], { device })), (e: Error) => /matmul/.test(e.message) && e.message.includes(dtype) && e.message.includes('float32'));
        assert.throws(() => h.requireGrad(), /float32/);
      });
    }
  });
}
