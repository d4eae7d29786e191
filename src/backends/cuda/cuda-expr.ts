// Expression trees as CUDA C, one `const` local per distinct subexpression. Helpers pin down
// the CPU backend's semantics where C's differ (NaN through max/min, sign, tanh saturation).
import type { DType } from '../../core/dtype.js';
import type { Expr } from '../../core/expr.js';
import { CseEmitter, infix } from '../cse-emitter.js';

export const CUDA_TYPE: Record<DType, string> = { float32: 'float', int32: 'int', bool: 'bool' };
/** Element type in device memory: booleans are bytes, as on the CPU. */
export const CUDA_STORAGE: Record<DType, string> = { float32: 'float', int32: 'int', bool: 'unsigned char' };

export const CUDA_HELPERS = `
__device__ __forceinline__ float max_(float a, float b) { return (isnan(a) || a > b) ? a : b; }
__device__ __forceinline__ float min_(float a, float b) { return (isnan(a) || a < b) ? a : b; }
__device__ __forceinline__ float sign_(float a) { return a > 0.0f ? 1.0f : (a < 0.0f ? -1.0f : a); }
__device__ __forceinline__ int sign_i_(int a) { return (a > 0) - (a < 0); }
__device__ __forceinline__ float sigmoid_(float a) { return 1.0f / (1.0f + expf(-a)); }
__device__ __forceinline__ float pow_(float a, float b) { return b == 0.0f ? 1.0f : powf(a, b); }
`;

function literal(value: number, dtype: DType): string {
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
