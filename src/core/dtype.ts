// Element types: what tensors hold on every device, and how they map to host typed arrays.

/**
 * Element types a tensor can have. float16 and bfloat16 are storage formats for matrix
 * products in half precision: they support cast, matmul (float32 accumulation), copies, views
 * and gather; arithmetic on them needs a cast to float32 first.
 */
export type DType = 'float32' | 'int32' | 'bool' | 'float16' | 'bfloat16';
export type HalfDType = 'float16' | 'bfloat16';
/** Host arrays: half-precision tensors are read and written as float32 values. */
export type TypedArray = Float32Array | Int32Array | Uint8Array;

const DTYPES: readonly DType[] = ['float32', 'int32', 'bool', 'float16', 'bfloat16'];

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function isHalf(dtype: DType): dtype is HalfDType {
  return dtype === 'float16' || dtype === 'bfloat16';
}

/** Whether values are floating point (float32 or a half format). */
export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || isHalf(dtype);
}

/** Bytes per element in a compact layout (files, CUDA memory). */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'bool' ? 1 : isHalf(dtype) ? 2 : 4;
}

/**
 * The layout a device without 16-bit arithmetic uses: half tensors widened to float32 that
 * hold only values the half format can represent.
 */
export function widened(dtype: DType): 'float32' | 'int32' | 'bool' {
  return isHalf(dtype) ? 'float32' : dtype;
}

export function allocArray(dtype: DType, size: number): TypedArray {
  switch (widened(dtype)) {
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

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The IEEE-754 bits of v rounded to float32, as an unsigned 32-bit integer (kernel parameters: no allocation). */
export function float32Bits(v: number): number {
  scratchF32[0] = v;
  return scratchU32[0]!;
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, float16: 2, bfloat16: 2, float32: 3 };

/** Result type of mixing two dtypes in arithmetic: bool < int32 < half < float32; two different halves give float32. */
export function promoteTypes(a: DType, b: DType): DType {
  if (isHalf(a) && isHalf(b) && a !== b) return 'float32';
  return RANK[a] >= RANK[b] ? a : b;
}
