// Storages as values of one StableHLO function, and strided views onto them. A storage is a flat
// 1-D array; reading a view reshapes, slices, transposes and broadcasts where the strides allow,
// and gathers by computed index otherwise; writing one updates a slice or scatters.
import type { DType } from '../../core/dtype.js';
import type { Storage, View } from '../backend.js';
import { type ElemType, HloBuilder, type Value } from './hlo-builder.js';

export const elemType = (dtype: DType): ElemType => (dtype === 'int32' ? 'i32' : dtype === 'bool' ? 'i1' : 'f32');

/**
 * The storages a function reads and writes: each read before it is written becomes an
 * argument; each written one a result. Calls in sequence see each other's writes, which is
 * what lets a whole captured step become one function.
 */
export class StorageValues {
  readonly inputs: Storage[] = [];
  private readonly current = new Map<Storage, Value>();
  private readonly written = new Set<Storage>();

  constructor(readonly b: HloBuilder) {}

  read(s: Storage): Value {
    let v = this.current.get(s);
    if (!v) {
      v = this.b.argument([s.size], elemType(s.dtype));
      this.inputs.push(s);
      this.current.set(s, v);
    }
    return v;
  }

  set(s: Storage, v: Value): void {
    this.current.set(s, v);
    this.written.add(s);
  }

  /** The storages written, with their final values, in first-write order. */
  outputs(): { storage: Storage; value: Value }[] {
    return [...this.written].map((storage) => ({ storage, value: this.current.get(storage)! }));
  }

  /** The flat element index of each position of `shape` in a strided layout, as an i32 tensor. */
  flatIndex(shape: readonly number[], strides: readonly number[], offset: number): Value {
    const b = this.b;
    let idx = b.constant(offset, shape, 'i32');
    shape.forEach((n, k) => {
      if (n === 1 || strides[k] === 0) return;
      const term = b.map('multiply', [b.iota(shape, k), b.constant(strides[k]!, shape, 'i32')]);
      idx = b.map('add', [idx, term]);
    });
    return idx;
  }

  /** The view's elements as a value of its shape. */
  view(v: View): Value {
    const b = this.b;
    const flat = this.read(v.storage);
    // broadcast axes (stride 0) are read once and spread
    const kept = v.shape.map((_, k) => k).filter((k) => v.strides[k] !== 0 || v.shape[k] === 1);
    if (kept.length < v.shape.length) {
      const inner = this.dense(flat, kept.map((k) => v.shape[k]!), kept.map((k) => v.strides[k]!), v.offset);
      return b.broadcast(inner, v.shape, kept);
    }
    return this.dense(flat, v.shape, v.strides, v.offset);
  }

  private dense(flat: Value, shape: readonly number[], strides: readonly number[], offset: number): Value {
    const b = this.b;
    const size = shape.reduce((a, n) => a * n, 1);
    if (size === 0) return b.constant(0, shape, flat.type);
    // a permutation of a contiguous block: slice, reshape in stride order, transpose back
    const order = shape.map((_, k) => k).filter((k) => shape[k] !== 1).sort((p, q) => strides[q]! - strides[p]!);
    let expect = 1, permuted = true;
    for (let j = order.length - 1; j >= 0; j--) {
      const k = order[j]!;
      if (strides[k] !== expect) { permuted = false; break; }
      expect *= shape[k]!;
    }
    if (permuted && offset + size <= flat.shape[0]!) {
      const block = b.slice(flat, [offset], [offset + size]);
      const sorted = b.reshape(block, order.map((k) => shape[k]!));
      const back = shape.map((_, k) => k).filter((k) => shape[k] !== 1).map((k) => order.indexOf(k));
      return b.reshape(b.transpose(sorted, back), shape);
    }
    return b.gatherFlat(flat, this.flatIndex(shape, strides, offset));
  }

  /** Elements of a view's storage at computed flat indices. */
  gatherFlat(v: View, flat: Value): Value {
    return this.b.gatherFlat(this.read(v.storage), flat);
  }

  /** Writes `value` (of the view's shape) into the view's storage, converted (and rounded, for halves) to its dtype. */
  assign(v: View, value: Value): void {
    const b = this.b;
    const s = v.storage;
    value = b.convert(value, elemType(s.dtype));
    if (s.dtype === 'float16' || s.dtype === 'bfloat16') value = b.roundTo(value, s.dtype === 'float16' ? 'f16' : 'bf16');
    const size = v.shape.reduce((a, n) => a * n, 1);
    if (size === 0) return;
    const contiguous = isDense(v.shape, v.strides);
    if (contiguous && v.offset === 0 && size === s.size) {
      this.set(s, b.reshape(value, [size]));
      return;
    }
    const old = this.read(s);
    const next = contiguous
      ? b.updateSlice(old, b.reshape(value, [size]), v.offset)
      : b.scatterFlat(old, this.flatIndex(v.shape, v.strides, v.offset), value, 'replace');
    this.set(s, next);
  }
}

function isDense(shape: readonly number[], strides: readonly number[]): boolean {
  let expect = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    if (shape[k] === 1) continue;
    if (strides[k] !== expect) return false;
    expect *= shape[k]!;
  }
  return true;
}
