// Host memory for the CPU backend: a typed array behind the opaque Storage handle.
import type { DType, TypedArray } from '../../core/dtype.js';
import type { Storage, View } from '../backend.js';

export class CpuStorage implements Storage {
  constructor(readonly dtype: DType, readonly data: TypedArray) {}
  get size(): number { return this.data.length; }
}

export function dataOf(v: View | Storage): TypedArray {
  const s = 'storage' in v ? v.storage : v;
  return (s as CpuStorage).data;
}
