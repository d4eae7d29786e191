// Expression trees as WGSL, one `let` per distinct subexpression. Where WGSL leaves results
// undefined (NaN handling, pow of negatives, log1p), helpers pin down the CPU's semantics.
import { type DType, isFloat, isHalf } from '../../core/dtype.js';
import type { Expr } from '../../core/expr.js';
import { roundHalf } from '../../core/half.js';
import { CseEmitter, infix } from '../cse-emitter.js';

/** Half formats compute in f32 (WGSL's f16 needs an optional feature; bfloat16 has none). */
export const WGSL_TYPE: Record<DType, string> = { float32: 'f32', int32: 'i32', bool: 'bool', float16: 'f32', bfloat16: 'f32' };
/**
 * Storage element type on the GPU: booleans are stored as u32 (WGSL has no byte storage), half
 * formats as f32 holding values the format can represent (16-bit stores would race on shared words).
 */
export const STORAGE_TYPE: Record<DType, string> = { float32: 'f32', int32: 'i32', bool: 'u32', float16: 'f32', bfloat16: 'f32' };

/** Helper functions every generated kernel includes. */
export const WGSL_HELPERS = `
fn is_nan_(a: f32) -> bool { return (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u; }
fn max_(a: f32, b: f32) -> f32 { if (is_nan_(a) || a > b) { return a; } return b; }
fn min_(a: f32, b: f32) -> f32 { if (is_nan_(a) || a < b) { return a; } return b; }
// WGSL rejects constant NaN/Infinity, so these depend on a runtime value (always 0)
fn zero_u_() -> u32 { return u32(md[0]) & 0u; }
fn nan_() -> f32 { return bitcast<f32>(0x7fc00000u | zero_u_()); }
fn inf_() -> f32 { return bitcast<f32>(0x7f800000u | zero_u_()); }
fn ninf_() -> f32 { return bitcast<f32>(0xff800000u | zero_u_()); }
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a >= 0.0) { return pow(a, b); }
  if (floor(b) != b) { return nan_(); }
  let m = pow(-a, b);
  if (floor(b * 0.5) * 2.0 != b) { return -m; }
  return m;
}
fn log1p_(a: f32) -> f32 { if (abs(a) < 1e-4) { return a - a * a * 0.5 + a * a * a / 3.0; } return log(1.0 + a); }
fn sigmoid_(a: f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }
fn tanh_(a: f32) -> f32 { if (abs(a) > 10.0) { return sign(a); } return tanh(a); }
fn erf_(x: f32) -> f32 {
  let s = sign(x);
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return s * y;
}
fn sign_i_(a: i32) -> i32 { if (a > 0) { return 1; } if (a < 0) { return -1; } return 0; }
// round to the nearest bfloat16 / float16 value, ties to even (as core/half.ts on the host)
fn round_bf16_(a: f32) -> f32 {
  if (is_nan_(a)) { return a; }
  let u = bitcast<u32>(a);
  return bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u);
}
fn round_f16_(a: f32) -> f32 {
  let u = bitcast<u32>(a);
  let s = u & 0x80000000u;
  let m = u & 0x7fffffffu;
  if (m > 0x7f800000u) { return a; }
  if (m >= 0x477ff000u) { return bitcast<f32>(s | 0x7f800000u); }
  if (m < 0x38800000u) {
    let e = m >> 23u;
    if (e < 102u) { return bitcast<f32>(s); }
    let mant = (m & 0x7fffffu) | 0x800000u;
    let sh = 126u - e;
    var r = mant >> sh;
    let rem = mant & ((1u << sh) - 1u);
    let h = 1u << (sh - 1u);
    if (rem > h || (rem == h && (r & 1u) == 1u)) { r = r + 1u; }
    let v = f32(r) * 5.9604644775390625e-8f;
    return select(v, -v, s != 0u);
  }
  return bitcast<f32>(s | ((m + 0xfffu + ((m >> 13u) & 1u)) & 0xffffe000u));
}
`;

function literal(value: number, dtype: DType): string {
  if (isHalf(dtype)) return literal(roundHalf(dtype, value), 'float32');
  if (dtype === 'bool') return value ? 'true' : 'false';
  if (dtype === 'int32') return `${value | 0}i`;
  if (Number.isNaN(value)) return 'nan_()';
  if (value === Infinity) return 'inf_()';
  if (value === -Infinity) return 'ninf_()';
  const f = Math.fround(value);
  // beyond f32's normal range WGSL literals are rejected; keep the bit pattern instead
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38) {
    const bits = new Uint32Array(Float32Array.of(f).buffer)[0]!;
    return `bitcast<f32>(${bits}u | zero_u_())`;
  }
  const s = String(f);
  return `${s.includes('.') || s.includes('e') ? s : `${s}.0`}f`;
}

export class WgslEmitter extends CseEmitter {
  /** `load(i)` is the WGSL expression reading input i (already converted to its WGSL type). */
  constructor(private readonly load: (index: number) => string, private readonly param: (index: number) => string) {
    super();
  }

  protected declare(name: string, e: Expr, code: string): string {
    return `let ${name}: ${WGSL_TYPE[e.dtype]} = ${code};`;
  }

  protected code(e: Expr): string {
    switch (e.kind) {
      case 'input': return this.load(e.index);
      case 'param': return this.param(e.index);
      case 'const': return literal(e.value, e.dtype);
      case 'where': return `select(${this.emit(e.b)}, ${this.emit(e.a)}, ${this.emit(e.cond)})`;
      case 'cast': {
        const a = this.emit(e.a), from = e.a.dtype;
        if (e.dtype === 'bool') return isFloat(from) ? `(${a} != 0.0)` : `(${a} != 0i)`;
        if (from === 'bool') return isFloat(e.dtype) ? `select(0.0f, 1.0f, ${a})` : `select(0i, 1i, ${a})`;
        if (e.dtype === 'bfloat16') return `round_bf16_(f32(${a}))`;
        if (e.dtype === 'float16') return `round_f16_(f32(${a}))`;
        return `${WGSL_TYPE[e.dtype]}(${a})`;
      }
      case 'unary': {
        const a = this.emit(e.a);
        const int = e.dtype === 'int32';
        switch (e.op) {
          case 'neg': return `(-${a})`;
          case 'abs': return `abs(${a})`;
          case 'sign': return int ? `sign_i_(${a})` : `sign(${a})`;
          case 'exp': return `exp(${a})`;
          case 'log': return `log(${a})`;
          case 'log1p': return `log1p_(${a})`;
          case 'sqrt': return `sqrt(${a})`;
          case 'rsqrt': return `inverseSqrt(${a})`;
          case 'recip': return `(1.0f / ${a})`;
          case 'sin': return `sin(${a})`;
          case 'cos': return `cos(${a})`;
          case 'tanh': return `tanh_(${a})`;
          case 'sigmoid': return `sigmoid_(${a})`;
          case 'erf': return `erf_(${a})`;
          case 'floor': return int ? a : `floor(${a})`;
          case 'not': return `(!${a})`;
          case 'isnan': return e.a.dtype === 'float32' ? `is_nan_(${a})` : 'false';
        }
      }
      // falls through: every unary op returns above
      case 'binary': {
        const a = this.emit(e.a), b = this.emit(e.b);
        const float = e.a.dtype === 'float32';
        switch (e.op) {
          case 'div': return `(${a} / ${b})`;
          case 'pow': return `pow_(${a}, ${b})`;
          case 'max': return float ? `max_(${a}, ${b})` : `max(${a}, ${b})`;
          case 'min': return float ? `min_(${a}, ${b})` : `min(${a}, ${b})`;
          default: return infix(e.op, a, b)!;
        }
      }
    }
  }
}

/** Converts a stored element to its WGSL value type, and back. */
export function fromStorage(dtype: DType, raw: string): string {
  return dtype === 'bool' ? `(${raw} != 0u)` : raw;
}
export function toStorage(dtype: DType, value: string): string {
  return dtype === 'bool' ? `select(0u, 1u, ${value})` : value;
}
