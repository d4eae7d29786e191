// Creating tensors: from JavaScript values, constants, ranges and identity matrices.
import { type DType, type TypedArray, allocArray, dtypeOfArray } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
import { checkDType, checkOptions, shown } from '../core/validate.js';
import { checkShape, sizeOf } from '../core/shape.js';
import { getDefaultDevice } from '../backends/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { fillLike } from './apply.js';
import { created } from './util.js';

export interface CreateOptions {
  shape?: readonly number[];
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

export type NestedValues = number | boolean | readonly NestedValues[];

function inferShape(v: NestedValues | TypedArray): number[] {
  const shape: number[] = [];
  let cur: unknown = v;
  while (Array.isArray(cur) || ArrayBuffer.isView(cur)) {
    shape.push((cur as ArrayLike<unknown>).length);
    cur = (cur as ArrayLike<unknown>)[0];
  }
  return shape;
}

function flattenInto(v: NestedValues, shape: readonly number[], dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (Array.isArray(v)) fail('tensor', `ragged nested array: expected a number at depth ${dim} (shape ${shapeStr(shape)})`);
    if (typeof v !== 'number' && typeof v !== 'boolean') fail('tensor', `expected numbers or booleans, got ${typeof v}`);
    out.push(Number(v));
    return;
  }
  if (!Array.isArray(v) || v.length !== shape[dim]) fail('tensor', `ragged nested array: expected ${shape[dim]} entries at depth ${dim} (shape ${shapeStr(shape)})`);
  for (const x of v as readonly NestedValues[]) flattenInto(x, shape, dim + 1, out);
}

function firstLeaf(v: NestedValues): unknown {
  let cur: unknown = v;
  while (Array.isArray(cur)) cur = cur[0];
  return cur;
}

/**
 * A tensor from nested arrays, a typed array (with `shape`) or a number.
 * @example tsr.tensor([[1, 2], [3, 4]]) // float32 [2, 2]
 */
export function tensor(values: NestedValues | TypedArray, opts: CreateOptions = {}): Tensor {
  if (opts.dtype !== undefined) checkDType('tensor', opts.dtype);
  let data: TypedArray | number[];
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(values)) {
    if (!(values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array)) {
      fail('tensor', `typed array ${(values as ArrayBufferView).constructor.name} is not supported; use Float32Array, Int32Array or Uint8Array`);
    }
    data = values;
    dtype = opts.dtype ?? dtypeOfArray(values);
    shape = opts.shape ? checkShape('tensor', opts.shape) : [values.length];
  } else {
    const inferred = inferShape(values);
    const flat: number[] = [];
    flattenInto(values, inferred, 0, flat);
    data = flat;
    dtype = opts.dtype ?? (typeof firstLeaf(values) === 'boolean' ? 'bool' : 'float32');
    shape = opts.shape ? checkShape('tensor', opts.shape) : inferred;
  }
  if (sizeOf(shape) !== data.length) fail('tensor', `${data.length} values do not fill shape ${shapeStr(shape)} (${sizeOf(shape)} elements)`);
  const out = created('tensor', opts.device ?? getDefaultDevice(), shape, dtype);
  out.backend.write(out.storageView.storage, toHost('tensor', data, dtype));
  if (opts.requiresGrad) out.requireGrad();
  return out;
}

const INT32_MIN = -(2 ** 31), INT32_MAX = 2 ** 31 - 1;

/**
 * Values in the dtype's host array. int32 rejects what it cannot hold (3e9 would wrap, NaN
 * would become 0) as PyTorch does, and truncates fractions toward zero; bool is `v != 0`.
 */
function toHost(op: string, values: ArrayLike<number>, dtype: DType): TypedArray {
  const host = allocArray(dtype, values.length);
  if (dtype === 'int32' && !(values instanceof Int32Array)) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!(v >= INT32_MIN && v < INT32_MAX + 1)) fail(op, `value ${v} at position ${i} does not fit int32 (${INT32_MIN}..${INT32_MAX})`);
    }
  } else if (dtype === 'bool' && !(values instanceof Uint8Array && values.every((v) => v <= 1))) {
    for (let i = 0; i < values.length; i++) host[i] = values[i] !== 0 ? 1 : 0;
    return host;
  }
  host.set(values);
  return host;
}

function checkFillValue(op: string, value: unknown, dtype: DType): number {
  if (typeof value !== 'number' && typeof value !== 'boolean') fail(op, `value must be a number, got ${shown(value)}`);
  const v = Number(value);
  if (dtype === 'int32' && !(Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX)) fail(op, `value ${v} is not an int32 integer`);
  return dtype === 'bool' ? (v !== 0 ? 1 : 0) : v;
}

export interface FillOptions { dtype?: DType; device?: string; requiresGrad?: boolean }

export function full(shape: readonly number[], value: number, opts: FillOptions = {}, op = 'full'): Tensor {
  const s = checkShape(op, shape);
  checkOptions(op, opts, ['dtype', 'device', 'requiresGrad']);
  const dtype = checkDType(op, opts.dtype ?? 'float32');
  const v = checkFillValue(op, value, dtype);
  const out = created(op, opts.device ?? getDefaultDevice(), s, dtype);
  out.backend.elementwise([{ kind: 'const', value: v, dtype: out.dtype }], [], [out.storageView]);
  if (opts.requiresGrad) out.requireGrad();
  return out;
}

export const zeros = (shape: readonly number[], opts: FillOptions = {}) => full(shape, 0, opts, 'zeros');
export const ones = (shape: readonly number[], opts: FillOptions = {}) => full(shape, 1, opts, 'ones');
export const zerosLike = (t: Tensor) => fillLike(t, t.shape, 0, t.dtype);
export const onesLike = (t: Tensor) => fillLike(t, t.shape, 1, t.dtype);

function fromHost(op: string, values: number[], dtype: DType, shape: readonly number[], device?: string): Tensor {
  checkDType(op, dtype);
  const out = created(op, device ?? getDefaultDevice(), shape, dtype);
  out.backend.write(out.storageView.storage, toHost(op, values, dtype));
  return out;
}

/** start, start+step, ... below stop; int32 when all arguments are integers. @example tsr.arange(5) */
export function arange(start: number, stop?: number, step = 1, opts: FillOptions = {}): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (!Number.isFinite(start) || !Number.isFinite(stop) || !Number.isFinite(step) || step === 0) {
    fail('arange', `expected finite start/stop and a non-zero step, got ${start}, ${stop}, ${step}`);
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = opts.dtype ?? ([start, stop, step].every(Number.isInteger) ? 'int32' : 'float32');
  return fromHost('arange', Array.from({ length: n }, (_, i) => start + i * step), dtype, [n], opts.device);
}

/** num evenly spaced values from start to stop inclusive. */
export function linspace(start: number, stop: number, num: number, opts: FillOptions = {}): Tensor {
  if (!Number.isInteger(num) || num < 0) fail('linspace', `num must be a non-negative integer, got ${num}`);
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  return fromHost('linspace', Array.from({ length: num }, (_, i) => (i === num - 1 && num > 1 ? stop : start + i * step)), opts.dtype ?? 'float32', [num], opts.device);
}

/** Identity matrix n x m (m defaults to n). */
export function eye(n: number, m = n, opts: FillOptions = {}): Tensor {
  checkShape('eye', [n, m]);
  const v = new Array<number>(n * m).fill(0);
  for (let i = 0; i < Math.min(n, m); i++) v[i * m + i] = 1;
  return fromHost('eye', v, opts.dtype ?? 'float32', [n, m], opts.device);
}
