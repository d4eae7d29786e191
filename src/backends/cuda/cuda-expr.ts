// Expression trees as CUDA C, one `const` local per distinct subexpression. Helpers pin down
// the CPU backend's semantics where C's differ (NaN through max/min, sign, tanh saturation).
import { type DType, isHalf } from '../../core/dtype.js';
import type { Expr } from '../../core/expr.js';
import { roundHalf } from '../../core/half.js';
import { CseEmitter, infix } from '../cse-emitter.js';

/** Values in registers: half formats compute as float. */
export const CUDA_TYPE: Record<DType, string> = { float32: 'float', int32: 'int', bool: 'bool', float16: 'float', bfloat16: 'float' };
/** Element type in device memory: booleans are bytes, as on the CPU; half formats their 16 bits. */
export const CUDA_STORAGE: Record<DType, string> = { float32: 'float', int32: 'int', bool: 'unsigned char', float16: 'unsigned short', bfloat16: 'unsigned short' };

/** A stored element as its register value. */
export function loadValue(dtype: DType, raw: string): string {
  if (dtype === 'bool') return `(${raw} != 0)`;
  if (dtype === 'bfloat16') return `bf16_load_(${raw})`;
  if (dtype === 'float16') return `f16_load_(${raw})`;
  return raw;
}

/** A register value as its stored element. */
export function storeValue(dtype: DType, value: string): string {
  if (dtype === 'bool') return `(unsigned char)(${value} ? 1 : 0)`;
  if (dtype === 'bfloat16') return `bf16_store_(${value})`;
  if (dtype === 'float16') return `f16_store_(${value})`;
  return `(${CUDA_STORAGE[dtype]})(${value})`;
}

export const CUDA_HELPERS = `
__device__ __forceinline__ float max_(float a, float b) { return (isnan(a) || a > b) ? a : b; }
__device__ __forceinline__ float min_(float a, float b) { return (isnan(a) || a < b) ? a : b; }
__device__ __forceinline__ float sign_(float a) { return a > 0.0f ? 1.0f : (a < 0.0f ? -1.0f : a); }
__device__ __forceinline__ int sign_i_(int a) { return (a > 0) - (a < 0); }
__device__ __forceinline__ float sigmoid_(float a) { return 1.0f / (1.0f + expf(-a)); }
__device__ __forceinline__ float pow_(float a, float b) { return b == 0.0f ? 1.0f : powf(a, b); }
// half formats: round to nearest, ties to even, in integer arithmetic (as core/half.ts on the host)
__device__ __forceinline__ float bf16_load_(unsigned short h) { return __uint_as_float((unsigned)h << 16); }
__device__ __forceinline__ unsigned short bf16_store_(float f) {
  const unsigned u = __float_as_uint(f);
  return (unsigned short)(isnan(f) ? ((u >> 16) | 0x40u) : ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16));
}
__device__ __forceinline__ float bf16_round_(float f) { return bf16_load_(bf16_store_(f)); }
__device__ __forceinline__ float f16_load_(unsigned short h) {
  const unsigned s = ((unsigned)h & 0x8000u) << 16, e = ((unsigned)h >> 10) & 31u, m = (unsigned)h & 0x3ffu;
  if (e == 31u) return __uint_as_float(s | 0x7f800000u | (m << 13));
  if (e == 0u) { const float v = (float)m * 5.9604644775390625e-8f; return s ? -v : v; }
  return __uint_as_float(s | ((e + 112u) << 23) | (m << 13));
}
__device__ __forceinline__ unsigned short f16_store_(float f) {
  const unsigned u = __float_as_uint(f), s = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (unsigned short)(s | 0x7e00u);
  if (a >= 0x477ff000u) return (unsigned short)(s | 0x7c00u);
  if (a < 0x38800000u) {
    const unsigned e = a >> 23;
    if (e < 102u) return (unsigned short)s;
    const unsigned mant = (a & 0x7fffffu) | 0x800000u, sh = 126u - e, rem = mant & ((1u << sh) - 1u), half = 1u << (sh - 1u);
    unsigned r = mant >> sh;
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (unsigned short)(s | r);
  }
  return (unsigned short)(s | ((a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13));
}
__device__ __forceinline__ float f16_round_(float f) { return f16_load_(f16_store_(f)); }
`;

function literal(value: number, dtype: DType): string {
  if (isHalf(dtype)) return literal(roundHalf(dtype, value), 'float32');
  if (dtype === 'bool') return value ? 'true' : 'false';
  if (dtype === 'int32') return `(${value | 0})`;
  // the bit pattern says NaN, infinities and subnormals exactly
  const f = Math.fround(value);
  if (!Number.isFinite(f) || (f !== 0 && Math.abs(f) < 1.1754943508222875e-38)) {
    return `__int_as_float(${new Int32Array(Float32Array.of(f).buffer)[0]})`;
  }
  const s = String(f);
  return `${s.includes('.') || s.includes('e') ? s : `${s}.0`}f`;
}

export class CudaEmitter extends CseEmitter {
  constructor(private readonly load: (index: number) => string, private readonly param: (index: number) => string) {
    super();
  }

  protected declare(name: string, e: Expr, code: string): string {
    return `const ${CUDA_TYPE[e.dtype]} ${name} = ${code};`;
  }

  protected code(e: Expr): string {
    switch (e.kind) {
      case 'input': return this.load(e.index);
      case 'param': return this.param(e.index);
      case 'const': return literal(e.value, e.dtype);
      case 'where': return `(${this.emit(e.cond)} ? ${this.emit(e.a)} : ${this.emit(e.b)})`;
      case 'cast': {
        const a = this.emit(e.a);
        if (e.dtype === 'bool') return `(${a} != 0)`;
        if (e.dtype === 'bfloat16') return `bf16_round_((float)(${a}))`;
        if (e.dtype === 'float16') return `f16_round_((float)(${a}))`;
        // float to int truncates toward zero, as Math.trunc on the CPU
        return `((${CUDA_TYPE[e.dtype]})(${a}))`;
      }
      case 'unary': {
        const a = this.emit(e.a);
        const int = e.dtype === 'int32';
        switch (e.op) {
          case 'neg': return `(-${a})`;
          case 'abs': return int ? `abs(${a})` : `fabsf(${a})`;
          case 'sign': return int ? `sign_i_(${a})` : `sign_(${a})`;
          case 'exp': return `expf(${a})`;
          case 'log': return `logf(${a})`;
          case 'log1p': return `log1pf(${a})`;
          case 'sqrt': return `sqrtf(${a})`;
          case 'rsqrt': return `rsqrtf(${a})`;
          case 'recip': return `(1.0f / ${a})`;
          case 'sin': return `sinf(${a})`;
          case 'cos': return `cosf(${a})`;
          case 'tanh': return `tanhf(${a})`;
          case 'sigmoid': return `sigmoid_(${a})`;
          case 'erf': return `erff(${a})`;
          case 'floor': return int ? a : `floorf(${a})`;
          case 'not': return `(!${a})`;
          case 'isnan': return e.a.dtype === 'float32' ? `isnan(${a})` : 'false';
        }
      }
      // falls through: every unary op returns above
      case 'binary': {
        const a = this.emit(e.a), b = this.emit(e.b);
        const float = e.a.dtype === 'float32';
        switch (e.op) {
          case 'div': return float ? `(${a} / ${b})` : `(${b} == 0 ? 0 : ${a} / ${b})`;
          case 'pow': return `pow_(${a}, ${b})`;
          case 'max': return float ? `max_(${a}, ${b})` : `max(${a}, ${b})`;
          case 'min': return float ? `min_(${a}, ${b})` : `min(${a}, ${b})`;
          default: return infix(e.op, a, b)!;
        }
      }
    }
  }
}
