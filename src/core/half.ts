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
  const sign = (bits & 0x8000) << 16, exp = (bits >>> 10) & 31, mant = bits & 0x3ff;
  if (exp === 0) {
    // subnormal (or zero): mant units of 2^-24
    const v = mant * 5.960464477539063e-8;
    return sign ? -v : v;
  }
  u32[0] = sign | (exp === 31 ? 0x7f800000 : (exp + 112) << 23) | (mant << 13);
  return f32[0]!;
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

/** The nearest bfloat16 value, as a float32 value (one rounding of its bits, no decode). */
export function roundBfloat16(v: number): number {
  f32[0] = v;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return v;
  u32[0] = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
  return f32[0]!;
}

/** The nearest float16 value, as a float32 value. */
export function roundFloat16(v: number): number {
  f32[0] = v;
  const u = u32[0]!, a = u & 0x7fffffff;
  if (a > 0x7f800000) return v;
  if (a < 0x38800000) return float16Value(float16Bits(v));
  u32[0] = a >= 0x477ff000 ? (u & 0x80000000) | 0x7f800000 : (u & 0x80000000) | ((a + 0xfff + ((a >>> 13) & 1)) & 0xffffe000);
  return f32[0]!;
}

/** The nearest value the half format can hold. */
export function roundHalf(dtype: HalfDType, v: number): number {
  return dtype === 'bfloat16' ? roundBfloat16(v) : roundFloat16(v);
}

/**
 * Rounds every element in place, working on the float32 bit patterns as signed 32-bit integers
 * (so the arithmetic stays in small integers; NaN patterns, the only ones that could overflow, are skipped).
 */
export function roundHalfArray(dtype: HalfDType, values: Float32Array): Float32Array {
  const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
  if (dtype === 'bfloat16') {
    for (let i = 0; i < bits.length; i++) {
      const u = bits[i]!;
      if ((u & 0x7fffffff) <= 0x7f800000) bits[i] = (u + 0x7fff + ((u >>> 16) & 1)) & -0x10000;
    }
    return values;
  }
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!, a = u & 0x7fffffff, sign = u & -0x80000000;
    if (a > 0x7f800000) continue;
    if (a >= 0x477ff000) bits[i] = sign | 0x7f800000;
    else if (a >= 0x38800000) bits[i] = sign | ((a + 0xfff + ((a >>> 13) & 1)) & -0x2000);
    else values[i] = float16Value(float16Bits(values[i]!));
  }
  return values;
}
