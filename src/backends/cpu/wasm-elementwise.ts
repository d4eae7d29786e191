// SIMD elementwise kernels: the expression IR compiled to WebAssembly (4 lanes of f32/i32),
// for the layouts that dominate training (dense, or rows with broadcast operands). Other
// expressions and layouts run as generated JavaScript.
import type { Expr } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import { float32Bits, isHalf } from '../../core/dtype.js';
import type { View } from '../backend.js';
import { heap } from './heap.js';
import { type CpuStorage, byteAddress } from './storage.js';
import { F32, I32, V128, kernelModule, op, v128Const } from './wasm-encoder.js';

type Kernel = (...args: number[]) => void;

const F = { abs: 0xe0, neg: 0xe1, sqrt: 0xe3, add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7, min: 0xe8, max: 0xe9, floor: 0x68, nearest: 0x6a, eq: 0x41, ne: 0x42, lt: 0x43, gt: 0x44, le: 0x45, ge: 0x46, splat: 0x13, fromInt: 0xfa } as const;
const I = { abs: 0xa0, neg: 0xa1, shl: 0xab, shrS: 0xac, add: 0xae, sub: 0xb1, mul: 0xb5, min: 0xb6, max: 0xb8, eq: 0x37, ne: 0x38, lt: 0x39, gt: 0x3b, le: 0x3d, ge: 0x3f, splat: 0x11, fromFloat: 0xf8 } as const;
const V = { load: 0x00, loadSplat: 0x09, store: 0x0b, not: 0x4d, and: 0x4e, or: 0x50, bitselect: 0x52 } as const;
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
function supported(e: Expr): boolean {
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

class BodyEmitter {
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
        const table = e.a.dtype === 'int32' ? I : F;
        this.simd((table as Record<string, number>)[e.op]!);
        return;
      }
    }
  }
}

/**
 * Signature: in pointers, out pointers, inner length, outer count, in row strides (bytes),
 * out row strides (bytes), params (f32). Inputs whose inner stride is 0 are splat per row.
 */
function compile(exprs: readonly Expr[], nIn: number, nOut: number, nParams: number, innerBroadcast: readonly boolean[]): Kernel {
  const inPtr = (k: number) => k, outPtr = (j: number) => nIn + j;
  const inner = nIn + nOut, outer = inner + 1;
  const inStride = (k: number) => outer + 1 + k, outStride = (j: number) => outer + 1 + nIn + j;
  const param = (p: number) => outer + 1 + nIn + nOut + p;
  const nArgs = outer + 1 + nIn + nOut + nParams;
  // locals: r, i, endBytes, inCur[nIn], outCur[nOut], paramVec[nParams], splat[nIn], temps...
  const r = nArgs, i = nArgs + 1, endBytes = nArgs + 2;
  const inCur = (k: number) => nArgs + 3 + k, outCur = (j: number) => nArgs + 3 + nIn + j;
  const paramVec = (p: number) => nArgs + 3 + nIn + nOut + p;
  const splat = (k: number) => nArgs + 3 + nIn + nOut + nParams + k;
  const firstTemp = nArgs + 3 + nIn + nOut + nParams + nIn;

  const emitter = new BodyEmitter(firstTemp,
    (k) => (innerBroadcast[k] ? op.localGet(splat(k)) : [...op.localGet(inCur(k)), ...op.localGet(i), ...op.i32Add, ...op.simd(V.load, 0, 0)]),
    paramVec);
  const results = exprs.map((e) => emitter.local(e));

  const body: number[] = [
    ...op.localGet(inner), ...op.i32Const(2), ...op.i32Shl, ...op.localSet(endBytes),
    ...Array.from({ length: nParams }, (_, p) => [...op.localGet(param(p)), ...op.simd(F.splat), ...op.localSet(paramVec(p))]).flat(),
    ...op.block, ...op.loop,
    ...op.localGet(r), ...op.localGet(outer), ...op.i32GeU, ...op.brIf(1),
    ...Array.from({ length: nIn }, (_, k) => [...op.localGet(inPtr(k)), ...op.localGet(r), ...op.localGet(inStride(k)), ...op.i32Mul, ...op.i32Add, ...op.localSet(inCur(k))]).flat(),
    ...Array.from({ length: nOut }, (_, j) => [...op.localGet(outPtr(j)), ...op.localGet(r), ...op.localGet(outStride(j)), ...op.i32Mul, ...op.i32Add, ...op.localSet(outCur(j))]).flat(),
    ...Array.from({ length: nIn }, (_, k) => (innerBroadcast[k] ? [...op.localGet(inCur(k)), ...op.simd(V.loadSplat, 2, 0), ...op.localSet(splat(k))] : [])).flat(),
    ...op.i32Const(0), ...op.localSet(i),
    ...op.block, ...op.loop,
    ...op.localGet(i), ...op.localGet(endBytes), ...op.i32GeU, ...op.brIf(1),
    ...emitter.code,
    ...results.map((local, j) => [...op.localGet(outCur(j)), ...op.localGet(i), ...op.i32Add, ...op.localGet(local), ...op.simd(V.store, 0, 0)]).flat(),
    ...op.localGet(i), ...op.i32Const(16), ...op.i32Add, ...op.localSet(i),
    ...op.br(0), ...op.end, ...op.end,
    ...op.localGet(r), ...op.i32Const(1), ...op.i32Add, ...op.localSet(r),
    ...op.br(0), ...op.end, ...op.end,
  ];
  const params = [...new Array<number>(outer + 1 + nIn + nOut).fill(I32), ...new Array<number>(nParams).fill(F32)];
  const locals = [I32, I32, I32, ...new Array<number>(nIn + nOut).fill(I32), ...new Array<number>(nParams + nIn).fill(V128), ...emitter.temps];
  const module = new WebAssembly.Module(kernelModule(params, locals, body));
  const instance = new WebAssembly.Instance(module, { e: { m: heap.memory } });
  return instance.exports['k'] as Kernel;
}

const cache = new Map<string, Kernel | null>();

function paramCount(e: Expr): number {
  switch (e.kind) {
    case 'param': return e.index + 1;
    case 'input': case 'const': return 0;
    case 'unary': case 'cast': return paramCount(e.a);
    case 'binary': return Math.max(paramCount(e.a), paramCount(e.b));
    case 'where': return Math.max(paramCount(e.cond), paramCount(e.a), paramCount(e.b));
  }
}

/**
 * The SIMD kernel for these views, resolved once, if the expression and the (collapsed) layout
 * allow it; null lets the JavaScript kernel take it. Layouts: up to three dimensions, the
 * innermost contiguous or broadcast in every input, outputs dense. A third (outermost)
 * dimension runs as one kernel call per index, with the pointers moved along.
 */
export function planWasmElementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], dims: readonly number[], strides: readonly (readonly number[])[]): ((params: readonly number[]) => void) | null {
  if (dims.length > 3) return null;
  const rank = dims.length;
  const innerLen = dims[rank - 1] ?? 1, rowLen = rank >= 2 ? dims[rank - 2]! : 1, slabs = rank === 3 ? dims[0]! : 1;
  const total = innerLen * rowLen * slabs;
  for (let j = 0; j < outs.length; j++) {
    const o = outs[j]!, s = strides[inputs.length + j]!;
    const st = o.storage as CpuStorage;
    if (st.dtype === 'bool' || (rank >= 1 && s[rank - 1] !== 1)) return null;
    // dense row-major (stride of each dimension the product of the ones inside it), or rows of
    // a larger tensor (a gate of a recurrent step) whose length is whole vectors, so no store
    // spills past a row into data that is not ours
    const dense = o.offset === 0 && st.size === total && (rank < 2 || s[rank - 2] === innerLen) && (rank < 3 || s[0] === innerLen * rowLen);
    if (!dense && innerLen % 4 !== 0) return null;
  }
  const innerBroadcast: boolean[] = [];
  for (let k = 0; k < inputs.length; k++) {
    const s = strides[k]!;
    const innerStride = rank ? s[rank - 1]! : 0;
    if (innerStride !== 0 && innerStride !== 1) return null;
    if ((inputs[k]!.storage as CpuStorage).dtype === 'bool') return null;
    innerBroadcast.push(innerStride === 0);
  }
  // a partial last vector of a row spills into the next row: not allowed when writing in place
  if (total > innerLen && innerLen % 4 !== 0 && outs.some((o) => inputs.some((x) => x.storage === o.storage))) return null;

  const key = `${exprs.map(exprKey).join(';')}|${inputs.length}|${outs.length}|${innerBroadcast.map(Number).join('')}`;
  let kernel = cache.get(key);
  if (kernel === undefined) {
    kernel = exprs.every(supported) ? compile(exprs, inputs.length, outs.length, Math.max(0, ...exprs.map(paramCount)), innerBroadcast) : null;
    cache.set(key, kernel);
  }
  if (!kernel) return null;
  const k = kernel;
  const inBase = inputs.map(byteAddress);
  const outBase = outs.map(byteAddress);
  const rowStride = (i: number) => (rank >= 2 ? strides[i]![rank - 2]! * 4 : 0);
  const tail = [innerLen, rowLen, ...inputs.map((_, i) => rowStride(i)), ...outs.map((_, j) => rowStride(inputs.length + j))];
  // byte addresses stay valid when the heap grows: only its buffer object changes
  const perSlab = Array.from({ length: slabs }, (_, slab) => {
    const shift = (i: number) => (rank === 3 ? slab * strides[i]![0]! * 4 : 0);
    return [...inBase.map((b, i) => b + shift(i)), ...outBase.map((b, j) => b + shift(inputs.length + j)), ...tail];
  });
  if (slabs === 1) {
    const args = perSlab[0]!;
    return (params) => k(...args, ...params);
  }
  return (params) => { for (const args of perSlab) k(...args, ...params); };
}
