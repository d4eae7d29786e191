// The expression IR as WebAssembly SIMD (four f32/i32 lanes): the emitter the elementwise and
// reduction kernels share, with SIMD forms of exp, sigmoid, tanh and erf.
import type { Expr } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import { float32Bits, isHalf } from '../../core/dtype.js';
import { V128, op, v128Const } from './wasm-encoder.js';

export const F = { abs: 0xe0, neg: 0xe1, sqrt: 0xe3, add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7, min: 0xe8, max: 0xe9, floor: 0x68, nearest: 0x6a, eq: 0x41, ne: 0x42, lt: 0x43, gt: 0x44, le: 0x45, ge: 0x46, splat: 0x13, fromInt: 0xfa } as const;
const I = { abs: 0xa0, neg: 0xa1, shl: 0xab, shrS: 0xac, add: 0xae, sub: 0xb1, mul: 0xb5, min: 0xb6, max: 0xb8, eq: 0x37, ne: 0x38, lt: 0x39, gt: 0x3b, le: 0x3d, ge: 0x3f, splat: 0x11, fromFloat: 0xf8 } as const;
export const V = { load: 0x00, loadSplat: 0x09, store: 0x0b, not: 0x4d, and: 0x4e, or: 0x50, bitselect: 0x52 } as const;
const ONE_F32 = float32Bits(1);
const SIGN_BIT = 0x80000000;
/** the transcendental functions with a SIMD form (see expTop, tanhTop) */
const SIMD_TRANSCENDENTAL = ['exp', 'sigmoid', 'tanh', 'erf'];
// exp: ln 2 in two parts (exact high part) and the degree-5 polynomial of Cephes's expf
const LN2_HI = 0.693359375, LN2_LO = -2.12194440e-4;
const EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
// tanh below |x| = 0.625: x + x^3 P(x^2), Cephes's tanhf coefficients (1 - 2 / (e^2x + 1) loses digits there)
const TANH_SMALL = 0.625;
const TANH_POLY = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
// erf: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the JavaScript kernels' formula too
const ERF_P = 0.3275911;
const ERF_POLY = [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592];

/** Whether every node has a SIMD form here (transcendental functions run in JavaScript). */
export function supported(e: Expr): boolean {
  if (isHalf(e.dtype)) return false;
  switch (e.kind) {
    case 'input': return e.dtype !== 'bool';
    case 'param': case 'const': return true;
    case 'cast': return supported(e.a);
    case 'where': return supported(e.cond) && supported(e.a) && supported(e.b);
    case 'unary': return ['neg', 'abs', 'sqrt', 'rsqrt', 'recip', 'floor', 'not', 'isnan', ...SIMD_TRANSCENDENTAL].includes(e.op) && supported(e.a) && !(e.dtype === 'int32' && (e.op === 'floor' || SIMD_TRANSCENDENTAL.includes(e.op)));
    case 'binary': return ['add', 'sub', 'mul', 'div', 'max', 'min', 'lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or'].includes(e.op) && supported(e.a) && supported(e.b);
  }
}

export class BodyEmitter {
  readonly code: number[] = [];
  readonly temps: number[] = [];
  private readonly memo = new Map<string, number>();
  constructor(private readonly firstTemp: number, private readonly loadInput: (i: number) => number[], private readonly paramLocal: (i: number) => number) {}

  /** Pushes the node's v128 value. */
  emit(e: Expr): void {
    this.code.push(...op.localGet(this.local(e)));
  }

  /** The local holding the node's value; each distinct subexpression is computed once. */
  local(e: Expr): number {
    const key = exprKey(e);
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    this.compute(e);
    const local = this.temp();
    this.memo.set(key, local);
    this.code.push(...op.localSet(local));
    return local;
  }

  private temp(): number {
    this.temps.push(V128);
    return this.firstTemp + this.temps.length - 1;
  }

  private simd(code: number): void { this.code.push(...op.simd(code)); }
  private f32(v: number): void { this.code.push(...v128Const(float32Bits(v))); }
  private get(local: number): void { this.code.push(...op.localGet(local)); }
  private set(local: number): void { this.code.push(...op.localSet(local)); }

  /** Horner's rule in the local x: c[0] x^(n-1) + ... + c[n-1], on the stack. */
  private poly(x: number, c: readonly number[]): void {
    this.f32(c[0]!);
    for (const k of c.slice(1)) { this.get(x); this.simd(F.mul); this.f32(k); this.simd(F.add); }
  }

  /**
   * e^x of the value on the stack: x = n ln2 + r with |r| <= ln2 / 2, e^r by a polynomial, then
   * times 2^n built from exponent bits in two halves, so results that are subnormal or overflow
   * to Infinity come out right (x is clamped to [-104, 89], beyond which they are 0 and Infinity).
   */
  private expTop(): void {
    const x = this.temp(), n = this.temp(), r = this.temp(), ni = this.temp();
    this.f32(89); this.simd(F.min); this.f32(-104); this.simd(F.max); this.set(x);
    this.get(x); this.f32(Math.LOG2E); this.simd(F.mul); this.simd(F.nearest); this.set(n);
    this.get(x); this.get(n); this.f32(LN2_HI); this.simd(F.mul); this.simd(F.sub); this.get(n); this.f32(LN2_LO); this.simd(F.mul); this.simd(F.sub); this.set(r);
    // e^r = 1 + r + r^2 P(r)
    this.poly(r, EXP_POLY); this.get(r); this.simd(F.mul); this.get(r); this.simd(F.mul); this.get(r); this.simd(F.add); this.f32(1); this.simd(F.add);
    this.get(n); this.simd(I.fromFloat); this.set(ni);
    const pow2 = (half: 'low' | 'high') => {
      // low: n >> 1; high: n - (n >> 1)
      if (half === 'high') this.get(ni);
      this.get(ni); this.code.push(...op.i32Const(1)); this.simd(I.shrS);
      if (half === 'high') this.simd(I.sub);
      this.code.push(...v128Const(127)); this.simd(I.add); this.code.push(...op.i32Const(23)); this.simd(I.shl);
    };
    pow2('low'); this.simd(F.mul); pow2('high'); this.simd(F.mul);
  }

  /** erf of the value on the stack: 1 - t P(t) e^(-x^2) with t = 1 / (1 + p|x|), given x's sign. */
  private erfTop(): void {
    const x = this.temp(), a = this.temp(), t = this.temp(), y = this.temp();
    this.set(x);
    this.get(x); this.simd(F.abs); this.set(a);
    this.f32(1); this.f32(1); this.get(a); this.f32(ERF_P); this.simd(F.mul); this.simd(F.add); this.simd(F.div); this.set(t);
    this.get(a); this.get(a); this.simd(F.mul); this.simd(F.neg); this.expTop(); this.set(y);
    this.f32(1); this.poly(t, ERF_POLY); this.get(t); this.simd(F.mul); this.get(y); this.simd(F.mul); this.simd(F.sub); this.set(y);
    this.get(x); this.get(y); this.code.push(...v128Const(SIGN_BIT)); this.simd(V.bitselect);
  }

  /** tanh of the value on the stack: the odd polynomial near 0, else (1 - e^-2|x|) / (1 + e^-2|x|) with x's sign. */
  private tanhTop(): void {
    const x = this.temp(), t = this.temp(), big = this.temp(), z = this.temp();
    this.set(x);
    this.get(x); this.simd(F.abs); this.f32(-2); this.simd(F.mul); this.expTop(); this.set(t);
    this.f32(1); this.get(t); this.simd(F.sub); this.f32(1); this.get(t); this.simd(F.add); this.simd(F.div); this.set(big);
    this.get(x); this.get(x); this.simd(F.mul); this.set(z);
    // bitselect(a, b, mask) takes a's bits where the mask is set: the polynomial where |x| < 0.625
    // (NaN compares false and comes through the other branch)
    this.poly(z, TANH_POLY); this.get(z); this.simd(F.mul); this.get(x); this.simd(F.mul); this.get(x); this.simd(F.add);
    this.get(x); this.get(big); this.code.push(...v128Const(SIGN_BIT)); this.simd(V.bitselect);
    this.get(x); this.simd(F.abs); this.f32(TANH_SMALL); this.simd(F.lt);
    this.simd(V.bitselect);
  }

  private compute(e: Expr): void {
    const int = e.dtype === 'int32';
    switch (e.kind) {
      case 'input': this.code.push(...this.loadInput(e.index)); return;
      case 'param': this.code.push(...op.localGet(this.paramLocal(e.index))); return;
      case 'const':
        this.code.push(...v128Const(e.dtype === 'float32' ? float32Bits(e.value) : e.dtype === 'int32' ? e.value | 0 : e.value ? -1 : 0));
        return;
      case 'cast': {
        this.emit(e.a);
        const from = e.a.dtype, to = e.dtype;
        if (to === 'bool') { this.code.push(...v128Const(0)); this.simd(from === 'float32' ? F.ne : I.ne); }
        else if (from === 'bool') { this.code.push(...v128Const(to === 'float32' ? ONE_F32 : 1)); this.simd(V.and); }
        else if (to === 'int32') this.simd(I.fromFloat);
        else this.simd(F.fromInt);
        return;
      }
      case 'where':
        this.emit(e.a); this.emit(e.b); this.emit(e.cond); this.simd(V.bitselect);
        return;
      case 'unary':
        switch (e.op) {
          case 'not': this.emit(e.a); this.simd(V.not); return;
          case 'isnan': this.emit(e.a); this.emit(e.a); this.simd(F.ne); return;
          case 'recip': this.code.push(...v128Const(ONE_F32)); this.emit(e.a); this.simd(F.div); return;
          case 'rsqrt': this.code.push(...v128Const(ONE_F32)); this.emit(e.a); this.simd(F.sqrt); this.simd(F.div); return;
          case 'exp': this.emit(e.a); this.expTop(); return;
          case 'sigmoid': this.code.push(...v128Const(ONE_F32)); this.code.push(...v128Const(ONE_F32)); this.emit(e.a); this.simd(F.neg); this.expTop(); this.simd(F.add); this.simd(F.div); return;
          case 'tanh': this.emit(e.a); this.tanhTop(); return;
          case 'erf': this.emit(e.a); this.erfTop(); return;
          default: this.emit(e.a); this.simd(int ? I[e.op as 'abs' | 'neg'] : F[e.op as 'abs' | 'neg' | 'sqrt' | 'floor']); return;
        }
      case 'binary': {
        this.emit(e.a);
        this.emit(e.b);
        if (e.op === 'and' || e.op === 'or') { this.simd(e.op === 'and' ? V.and : V.or); return; }
        // booleans are lane masks (all ones or zero): compared as integers
        const table = e.a.dtype === 'float32' ? F : I;
        this.simd((table as Record<string, number>)[e.op]!);
        return;
      }
    }
  }
}


/** How many params (per-launch scalars) the expression reads. */
export function paramCount(e: Expr): number {
  switch (e.kind) {
    case 'param': return e.index + 1;
    case 'input': case 'const': return 0;
    case 'unary': case 'cast': return paramCount(e.a);
    case 'binary': return Math.max(paramCount(e.a), paramCount(e.b));
    case 'where': return Math.max(paramCount(e.cond), paramCount(e.a), paramCount(e.b));
  }
}
