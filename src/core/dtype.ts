// Element types: what tensors hold on every device, and how they map to host typed arrays.

/** Element types a tensor can have. float16/bfloat16 are reserved for accelerator storage. */
export type DType = 'float32' | 'int32' | 'bool';
export type StorageDType = DType | 'float16' | 'bfloat16';
export type TypedArray = Float32Array | Int32Array | Uint8Array;

const DTYPES: readonly DType[] = ['float32', 'int32', 'bool'];

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'bool' ? 1 : 4;
}

export function allocArray(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'int32': return new Int32Array(size);
    case 'bool': return new Uint8Array(size);
  }
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  return 'bool';
}

/** The IEEE-754 bits of v rounded to float32, as an unsigned 32-bit integer. */
export function float32Bits(v: number): number {
  return new Uint32Array(Float32Array.of(v).buffer)[0]!;
}

/** Result type of mixing two dtypes in arithmetic: bool < int32 < float32. */
export function promoteTypes(a: DType, b: DType): DType {
  const rank = { bool: 0, int32: 1, float32: 2 } as const;
  return rank[a] >= rank[b] ? a : b;
}
