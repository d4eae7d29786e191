// Host rounding to float16 and bfloat16: hand-worked cases (ties to even, subnormals,
// overflow, NaN), every bit pattern round-tripping, and agreement with a float64 reference.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bfloat16Bits, bfloat16Value, float16Bits, float16Value, roundHalf } from '../../src/core/half.js';

const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

/** Nearest float16 computed in float64 arithmetic, ties to even: independent of the bit tricks. */
function nearestFloat16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  const quantum = a < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(a)) - 10);
  const q = a / quantum, lo = Math.floor(q);
  const r = q - lo > 0.5 || (q - lo === 0.5 && lo % 2 === 1) ? lo + 1 : lo;
  const v = r * quantum;
  return Math.sign(x) * (v > 65504 ? Infinity : v) || (Object.is(x, -0) || x < 0 ? -0 : 0);
}

describe('half-precision rounding on the host', () => {
  it('bfloat16: exact values, ties to even, overflow, signed zero and NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3f80], [-2, 0xc000], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [1 + 2 ** -8 + 2 ** -20, 0x3f81],
      [3.4028234663852886e38, 0x7f80], [-Infinity, 0xff80], [-0, 0x8000], [2 ** -130, 0x0008],
    ];
    for (const [v, bits] of cases) assert.equal(hex(bfloat16Bits(v)), hex(bits), `bfloat16(${v})`);
    assert.ok(Number.isNaN(bfloat16Value(bfloat16Bits(NaN))));
  });

  it('float16: exact values, ties to even, largest value, overflow, subnormals and NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-1e6, 0xfc00],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2 ** -14, 0x0400], [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002], [2 ** -14 - 2 ** -25, 0x0400], [-0, 0x8000],
    ];
    for (const [v, bits] of cases) assert.equal(hex(float16Bits(v)), hex(bits), `float16(${v})`);
    assert.ok(Number.isNaN(float16Value(float16Bits(NaN))));
  });

  it('every non-NaN bit pattern survives value -> bits in both formats', () => {
    for (let b = 0; b < 65536; b++) {
      const f = float16Value(b);
      if (!Number.isNaN(f)) assert.equal(float16Bits(f), b, `float16 ${hex(b)}`);
      const g = bfloat16Value(b);
      if (!Number.isNaN(g)) assert.equal(bfloat16Bits(g), b, `bfloat16 ${hex(b)}`);
    }
  });

  it('float16 rounding of random float32 values matches a float64 reference', () => {
    let seed = 12345;
    const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((next() - 0.5) * 2 ** Math.floor(next() * 48 - 30));
      assert.equal(roundHalf('float16', x), nearestFloat16(x), `float16 of ${x}`);
    }
  });
});
