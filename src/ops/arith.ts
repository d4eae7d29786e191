// Arithmetic, comparisons, math functions, where and cast: each one fused expression.
import type { DType } from '../core/dtype.js';
import { isDType } from '../core/dtype.js';
import { fail } from '../core/errors.js';
import * as E from '../core/expr.js';
import type { Tensor } from '../tensor/tensor.js';
import { fuse } from './apply.js';
import type { TensorLike } from './util.js';

type Binary = (a: TensorLike, b: TensorLike) => Tensor;
type Unary = (x: Tensor) => Tensor;

const binary = (name: string, op: E.BinaryOp): Binary => (a, b) => fuse(name, (x, y) => E.binary(op, x!, y!), a, b);
const unary = (name: string, op: E.UnaryOp): Unary => (x) => fuse(name, (a) => E.unary(op, a!), x);

/** a + b with NumPy broadcasting. @example tsr.add(x, 1) */
export const add = binary('add', 'add');
export const sub = binary('sub', 'sub');
export const mul = binary('mul', 'mul');
/** True division (int32 inputs give float32). */
export const div = binary('div', 'div');
export const pow = binary('pow', 'pow');
export const maximum = binary('maximum', 'max');
export const minimum = binary('minimum', 'min');
export const less = binary('less', 'lt');
export const lessEqual = binary('lessEqual', 'le');
export const greater = binary('greater', 'gt');
export const greaterEqual = binary('greaterEqual', 'ge');
export const equal = binary('equal', 'eq');
export const notEqual = binary('notEqual', 'ne');
export const logicalAnd = binary('logicalAnd', 'and');
export const logicalOr = binary('logicalOr', 'or');

export const neg = unary('neg', 'neg');
export const abs = unary('abs', 'abs');
export const sign = unary('sign', 'sign');
export const exp = unary('exp', 'exp');
export const log = unary('log', 'log');
export const log1p = unary('log1p', 'log1p');
export const sqrt = unary('sqrt', 'sqrt');
export const rsqrt = unary('rsqrt', 'rsqrt');
export const reciprocal = unary('reciprocal', 'recip');
export const sin = unary('sin', 'sin');
export const cos = unary('cos', 'cos');
export const floor = unary('floor', 'floor');
export const logicalNot = unary('logicalNot', 'not');
export const isNaN = unary('isNaN', 'isnan');

export function square(x: Tensor): Tensor {
  return fuse('square', (a) => E.mul(a!, a!), x);
}

/** Limits values to [lo, hi]; the gradient passes where lo <= x <= hi. */
export function clip(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) fail('clip', `expected lo <= hi, got lo=${lo}, hi=${hi}`);
  return fuse('clip', (a) => E.where(E.binary('lt', a!, lo), lo, E.where(E.binary('gt', a!, hi), hi, a!)), x);
}

/** Picks a where cond is true, else b; all three broadcast together. */
export function where(cond: TensorLike, a: TensorLike, b: TensorLike): Tensor {
  return fuse('where', (c, x, y) => E.where(c!, x!, y!), cond, a, b);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (!isDType(dtype)) fail('cast', `unknown dtype '${String(dtype)}' (expected float32, int32, bool, float16 or bfloat16)`);
  if (x.dtype === dtype) return x;
  return fuse('cast', (a) => E.cast(a!, dtype), x);
}
