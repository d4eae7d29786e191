// Rounding and bit conversion between float32 and the half formats (round to nearest, ties to
// even; overflow to infinity; NaN stays NaN). Every backend's kernels follow these host versions.
import type { HalfDType } from './dtype.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits of a float32 value. */
export function bfloat16Bits(v: number): number {
  f32[0] = v;
  const u = u32[0]!;
  if (Number.isNaN(f32[0])) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float16 bits of a float32 value. */
export function float16Bits(v: number): number {
  f32[0] = v;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000, a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  // 65520 is halfway between 65504 (the largest float16) and 65536: ties go to even, infinity
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a < 0x38800000) {
    // below 2^-14: a subnormal, counted in units of 2^-24
    const exp = a >>> 23;
    if (exp < 102) return sign;
    const mant = (a & 0x7fffff) | 0x800000, shift = 126 - exp;
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  const rounded = a + 0xfff + ((a >>> 13) & 1);
  return sign | ((rounded - 0x38000000) >>> 13);
}

export function bfloat16Value(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1, exp = (bits >>> 10) & 31, mant = bits & 0x3ff;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function halfBits(dtype: HalfDType, values: ArrayLike<number>): Uint16Array {
  const bits = dtype === 'bfloat16' ? bfloat16Bits : float16Bits;
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = bits(values[i]!);
  return out;
}

export function halfValues(dtype: HalfDType, bits: Uint16Array): Float32Array {
  const value = dtype === 'bfloat16' ? bfloat16Value : float16Value;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = value(bits[i]!);
  return out;
}

/** The nearest value the half format can hold. */
export function roundHalf(dtype: HalfDType, v: number): number {
  return dtype === 'bfloat16' ? bfloat16Value(bfloat16Bits(v)) : float16Value(float16Bits(v));
}

/** Rounds every element in place. */
export function roundHalfArray(dtype: HalfDType, values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = roundHalf(dtype, values[i]!);
  return values;
}
