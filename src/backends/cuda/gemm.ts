// Matrix products through cuBLAS: row-major [B, M, K] x [B, K, N] views become one strided
// batched GEMM on the transposed problem (C^T = B^T A^T), with no copies when each matrix has
// a unit stride along one axis; other layouts are first copied to contiguous memory.
// float32 runs on TF32 tensor cores unless 'highest' is asked for; float16 and bfloat16 run on
// tensor cores with float32 accumulation (as torch.matmul does), writing half results.
import { type DType, bytesPerElement } from '../../core/dtype.js';
import { TesseraError } from '../../core/errors.js';
import { env } from '../../core/platform.js';
import { input } from '../../core/expr.js';
import { contiguousStrides, sizeOf } from '../../core/shape.js';
import type { View } from '../backend.js';
import { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT, CUBLAS_OP_N, CUBLAS_OP_T, CUDA_DATA_TYPE } from './driver.js';
import type { GemmProblem, LtGemm } from './gemm-lt.js';
import { CudaStorage, elementwise } from './launch.js';
import type { CudaRuntime } from './runtime.js';

export type MatmulPrecision = 'highest' | 'tf32';

/** The GEMM libraries: cuBLASLt first where it loaded (null after it refused a call), cuBLAS always. */
export interface GemmLibraries { blas: unknown; lt: LtGemm | null }

/** How cuBLAS (column-major) reads a row-major rows x cols matrix with the given strides as its transpose. */
export function asColumnMajor(rows: number, cols: number, rowStride: number, colStride: number): { op: number; ld: number } | null {
  // the column-major matrix cols x rows is the row-major one as stored
  if ((cols === 1 || colStride === 1) && (rows === 1 || rowStride >= cols)) return { op: CUBLAS_OP_N, ld: rows === 1 ? Math.max(1, cols) : rowStride };
  // stored column by column: cuBLAS transposes a rows x cols column-major matrix
  if ((rows === 1 || rowStride === 1) && (cols === 1 || colStride >= rows)) return { op: CUBLAS_OP_T, ld: cols === 1 ? Math.max(1, rows) : colStride };
  return null;
}

/** The compute type cuBLAS is asked for: TF32 applies to float32 operands only. */
export function computeType(dtype: DType, precision: MatmulPrecision): number {
  return dtype === 'float32' && precision === 'tf32' ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

const ONE = Float32Array.of(1), ZERO = Float32Array.of(0);
const dtypeOf = (v: View) => (v.storage as CudaStorage).dtype;

export function matmul(rt: CudaRuntime, libs: GemmLibraries, precision: MatmulPrecision, a: View, b: View, out: View): void {
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  const dtype = dtypeOf(out), type = CUDA_DATA_TYPE[dtype], elem = bytesPerElement(dtype);
  if (type === undefined || dtypeOf(a) !== dtype || dtypeOf(b) !== dtype) {
    throw new TesseraError('cuda', `matmul: operands ${dtypeOf(a)} x ${dtypeOf(b)} -> ${dtype} are not a supported GEMM`);
  }
  if (batch === 0 || m === 0 || n === 0) return;
  if (k === 0) {
    elementwise(rt, [{ kind: 'const', value: 0, dtype }], [], [out]);
    return;
  }
  const la = asColumnMajor(m, k, a.strides[1]!, a.strides[2]!);
  const lb = asColumnMajor(k, n, b.strides[1]!, b.strides[2]!);
  const lc = asColumnMajor(m, n, out.strides[1]!, out.strides[2]!);
  if (!la) return withContiguous(rt, a, (c) => matmul(rt, libs, precision, c, b, out));
  if (!lb) return withContiguous(rt, b, (c) => matmul(rt, libs, precision, a, c, out));
  if (!lc || lc.op !== CUBLAS_OP_N) {
    // cuBLAS writes C column-major only: compute into a contiguous block, then copy
    const tmp = contiguousTemp(rt, dtype, out.shape);
    matmul(rt, libs, precision, a, b, tmp.view);
    elementwise(rt, [input(0, dtype)], [tmp.view], [out]);
    tmp.release();
    return;
  }
  const ptr = (v: View) => (v.storage as CudaStorage).ptr + BigInt(v.offset * elem);
  const p: GemmProblem = {
    type, compute: computeType(dtype, precision), opA: lb.op, opB: la.op, m: n, n: m, k, lda: lb.ld, ldb: la.ld, ldc: lc.ld,
    strideA: batch > 1 ? b.strides[0]! : 0, strideB: batch > 1 ? a.strides[0]! : 0, strideC: batch > 1 ? out.strides[0]! : 0, batch,
  };
  if (libs.lt && runLt(rt, libs, p, ptr(b), ptr(a), ptr(out))) return;
  rt.timed(() => rt.driver.checkBlas('cublasGemmStridedBatchedEx', libs.blas, p.opA, p.opB, p.m, p.n, p.k, ONE,
    ptr(b), type, p.lda, BigInt(p.strideA), ptr(a), type, p.ldb, BigInt(p.strideB),
    ZERO, ptr(out), type, p.ldc, BigInt(p.strideC), batch, p.compute, CUBLAS_GEMM_DEFAULT));
}

/** cuBLASLt's attempt; a library that refuses a call is set aside (with one warning) for cuBLAS. */
function runLt(rt: CudaRuntime, libs: GemmLibraries, p: GemmProblem, a: bigint, b: bigint, c: bigint): boolean {
  try {
    return libs.lt!.run(rt, p, a, b, c);
  } catch (e) {
    libs.lt = null;
    if (!env('TESSERA_QUIET')) console.warn(`tessera: cuBLASLt refused a product (${(e as Error).message}); using cuBLAS from now on`);
    return false;
  }
}

/** A contiguous block on the device, given back to the allocator (stream-ordered) by release(). */
function contiguousTemp(rt: CudaRuntime, dtype: DType, shape: readonly number[]): { view: View; release: () => void } {
  const size = sizeOf(shape), bytes = size * bytesPerElement(dtype);
  const storage = new CudaStorage(dtype, size, rt.alloc(bytes), bytes);
  return { view: { storage, shape, strides: contiguousStrides(shape), offset: 0 }, release: () => rt.release(storage.ptr, bytes) };
}

/** Runs fn on a contiguous copy of v. */
function withContiguous(rt: CudaRuntime, v: View, fn: (copy: View) => void): void {
  const dtype = dtypeOf(v);
  const tmp = contiguousTemp(rt, dtype, v.shape);
  elementwise(rt, [input(0, dtype)], [v], [tmp.view]);
  fn(tmp.view);
  // the stream orders later reuse of this block after the GEMM that reads it
  tmp.release();
}
