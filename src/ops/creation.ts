// Creating tensors: from JavaScript values, constants, ranges and identity matrices.
import { type DType, type TypedArray, allocArray, dtypeOfArray, isDType } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
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
  if (opts.dtype !== undefined && !isDType(opts.dtype)) fail('tensor', `unknown dtype '${String(opts.dtype)}' (expected float32, int32, bool, float16 or bfloat16)`);
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
  const host = allocArray(dtype, data.length);
  host.set(data as ArrayLike<number>);
  const out = created('tensor', opts.device ?? getDefaultDevice(), shape, dtype);
  out.backend.write(out.storageView.storage, host);
  if (opts.requiresGrad) out.requireGrad();
  return out;
}

export interface FillOptions { dtype?: DType; device?: string; requiresGrad?: boolean }

export function full(shape: readonly number[], value: number, opts: FillOptions = {}): Tensor {
  const s = checkShape('full', shape);
  const out = created('full', opts.device ?? getDefaultDevice(), s, opts.dtype ?? 'float32');
  out.backend.elementwise([{ kind: 'const', value, dtype: out.dtype }], [], [out.storageView]);
  if (opts.requiresGrad) out.requireGrad();
  return out;
}

export const zeros = (shape: readonly number[], opts: FillOptions = {}) => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: FillOptions = {}) => full(shape, 1, opts);
export const zerosLike = (t: Tensor) => fillLike(t, t.shape, 0, t.dtype);
export const onesLike = (t: Tensor) => fillLike(t, t.shape, 1, t.dtype);

function fromHost(op: string, values: number[], dtype: DType, shape: readonly number[], device?: string): Tensor {
  if (!isDType(dtype)) fail(op, `unknown dtype '${String(dtype)}'`);
  const host = allocArray(dtype, values.length);
  host.set(values);
  const out = created(op, device ?? getDefaultDevice(), shape, dtype);
  out.backend.write(out.storageView.storage, host);
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
