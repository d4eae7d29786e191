// The elementwise expression IR: one tree per fused kernel, turned into code by each backend.
import type { DType } from './dtype.js';
import { promoteTypes } from './dtype.js';

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'log1p' | 'sqrt' | 'rsqrt' | 'recip'
  | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'erf' | 'floor' | 'not' | 'isnan';
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min'
  | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne' | 'and' | 'or';

/** Inputs are tensors broadcast to the output shape; params are scalars supplied per launch. */
export type Expr =
  | { readonly kind: 'input'; readonly index: number; readonly dtype: DType }
  | { readonly kind: 'param'; readonly index: number; readonly dtype: 'float32' }
  | { readonly kind: 'const'; readonly value: number; readonly dtype: DType }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly a: Expr; readonly dtype: DType }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly a: Expr; readonly b: Expr; readonly dtype: DType }
  | { readonly kind: 'where'; readonly cond: Expr; readonly a: Expr; readonly b: Expr; readonly dtype: DType }
  | { readonly kind: 'cast'; readonly a: Expr; readonly dtype: DType };

export type ExprLike = Expr | number;

const FLOAT_UNARY: ReadonlySet<UnaryOp> = new Set([
  'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'recip', 'sin', 'cos', 'tanh', 'sigmoid', 'erf',
]);
const COMPARISON: ReadonlySet<BinaryOp> = new Set(['lt', 'le', 'gt', 'ge', 'eq', 'ne']);
const LOGICAL: ReadonlySet<BinaryOp> = new Set(['and', 'or']);

export function lift(x: ExprLike): Expr {
  return typeof x === 'number' ? constant(x) : x;
}

export function input(index: number, dtype: DType = 'float32'): Expr {
  return { kind: 'input', index, dtype };
}
export function param(index: number): Expr {
  return { kind: 'param', index, dtype: 'float32' };
}
export function constant(value: number, dtype: DType = 'float32'): Expr {
  return { kind: 'const', value, dtype };
}
export function cast(a: ExprLike, dtype: DType): Expr {
  const e = lift(a);
  return e.dtype === dtype ? e : { kind: 'cast', a: e, dtype };
}

export function unary(op: UnaryOp, x: ExprLike): Expr {
  let a = lift(x);
  if (FLOAT_UNARY.has(op)) a = cast(a, 'float32');
  if (op === 'not') return { kind: 'unary', op, a: cast(a, 'bool'), dtype: 'bool' };
  if (op === 'isnan') return { kind: 'unary', op, a, dtype: 'bool' };
  const dtype = a.dtype === 'bool' && op !== 'floor' ? 'int32' : a.dtype;
  return { kind: 'unary', op, a: a.dtype === 'bool' ? cast(a, 'int32') : a, dtype };
}

export function binary(op: BinaryOp, x: ExprLike, y: ExprLike): Expr {
  let a = lift(x);
  let b = lift(y);
  // a bare number takes the other side's type, so `intTensor + 1` stays int32
  if (typeof x === 'number' && b.dtype !== 'bool') a = constant(x, Number.isInteger(x) ? b.dtype : 'float32');
  if (typeof y === 'number' && a.dtype !== 'bool') b = constant(y, Number.isInteger(y) ? a.dtype : 'float32');
  if (LOGICAL.has(op)) return { kind: 'binary', op, a: cast(a, 'bool'), b: cast(b, 'bool'), dtype: 'bool' };
  let t = promoteTypes(a.dtype, b.dtype);
  if (op === 'div' || op === 'pow') t = 'float32';
  if (t === 'bool' && !COMPARISON.has(op)) t = 'int32';
  a = cast(a, t);
  b = cast(b, t);
  return { kind: 'binary', op, a, b, dtype: COMPARISON.has(op) ? 'bool' : t };
}

export function where(cond: ExprLike, x: ExprLike, y: ExprLike): Expr {
  let a = lift(x);
  let b = lift(y);
  if (typeof x === 'number') a = constant(x, b.dtype);
  if (typeof y === 'number') b = constant(y, a.dtype);
  const t = promoteTypes(a.dtype, b.dtype);
  return { kind: 'where', cond: cast(lift(cond), 'bool'), a: cast(a, t), b: cast(b, t), dtype: t };
}

// Short builders, so composite ops read like formulas.
export const add = (a: ExprLike, b: ExprLike) => binary('add', a, b);
export const sub = (a: ExprLike, b: ExprLike) => binary('sub', a, b);
export const mul = (a: ExprLike, b: ExprLike) => binary('mul', a, b);
export const div = (a: ExprLike, b: ExprLike) => binary('div', a, b);
export const neg = (a: ExprLike) => unary('neg', a);
export const exp = (a: ExprLike) => unary('exp', a);
export const log = (a: ExprLike) => unary('log', a);
export const sqrt = (a: ExprLike) => unary('sqrt', a);

const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * Flush-to-zero: values below `below` (default: the subnormals) become 0. Decaying optimizer
 * state otherwise sinks into subnormals (and sticks at the smallest: 0.9 * 1.4e-45 rounds back
 * up), where x86 vector arithmetic runs many times slower. WebAssembly cannot set the CPU's
 * flush-to-zero mode, so kernels do it explicitly.
 */
export function flushToZero(e: Expr, below = FLOAT32_MIN_NORMAL): Expr {
  return where(binary('lt', unary('abs', e), below), 0, e);
}

const keys = new WeakMap<Expr, string>();

/** Canonical text of an expression: the cache key for compiled kernels (memoised per node). */
export function exprKey(e: Expr): string {
  let k = keys.get(e);
  if (k === undefined) keys.set(e, (k = computeKey(e)));
  return k;
}

function computeKey(e: Expr): string {
  switch (e.kind) {
    case 'input': return `i${e.index}:${e.dtype}`;
    case 'param': return `p${e.index}`;
    case 'const': return `c(${Object.is(e.value, -0) ? '-0' : e.value}:${e.dtype})`;
    case 'unary': return `${e.op}(${exprKey(e.a)})`;
    case 'binary': return `${e.op}(${exprKey(e.a)},${exprKey(e.b)})`;
    case 'where': return `where(${exprKey(e.cond)},${exprKey(e.a)},${exprKey(e.b)})`;
    case 'cast': return `cast:${e.dtype}(${exprKey(e.a)})`;
  }
}
