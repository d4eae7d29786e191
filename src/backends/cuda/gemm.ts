// Matrix products through cuBLAS: row-major [B, M, K] x [B, K, N] views become one strided
// batched GEMM on the transposed problem (C^T = B^T A^T), with no copies when each matrix has
// a unit stride along one axis; other layouts are first copied to contiguous memory.
import { input } from '../../core/expr.js';
import { contiguousStrides } from '../../core/shape.js';
import type { View } from '../backend.js';
import { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT, CUBLAS_OP_N, CUBLAS_OP_T, CUDA_R_32F } from './driver.js';
import { CudaStorage, elementwise } from './launch.js';
import type { CudaRuntime } from './runtime.js';

export type MatmulPrecision = 'highest' | 'tf32';

/** How cuBLAS (column-major) reads a row-major rows x cols matrix with the given strides as its transpose. */
export function asColumnMajor(rows: number, cols: number, rowStride: number, colStride: number): { op: number; ld: number } | null {
  // the column-major matrix cols x rows is the row-major one as stored
  if ((cols === 1 || colStride === 1) && (rows === 1 || rowStride >= cols)) return { op: CUBLAS_OP_N, ld: rows === 1 ? Math.max(1, cols) : rowStride };
  // stored column by column: cuBLAS transposes a rows x cols column-major matrix
  if ((rows === 1 || rowStride === 1) && (cols === 1 || colStride >= rows)) return { op: CUBLAS_OP_T, ld: cols === 1 ? Math.max(1, rows) : colStride };
  return null;
}

const ONE = Float32Array.of(1), ZERO = Float32Array.of(0);

export function matmul(rt: CudaRuntime, blas: unknown, precision: MatmulPrecision, a: View, b: View, out: View): void {
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  if (batch === 0 || m === 0 || n === 0) return;
  if (k === 0) {
    elementwise(rt, [{ kind: 'const', value: 0, dtype: 'float32' }], [], [out]);
    return;
  }
  const la = asColumnMajor(m, k, a.strides[1]!, a.strides[2]!);
  const lb = asColumnMajor(k, n, b.strides[1]!, b.strides[2]!);
  const lc = asColumnMajor(m, n, out.strides[1]!, out.strides[2]!);
  if (!la) return withContiguous(rt, a, (c) => matmul(rt, blas, precision, c, b, out));
  if (!lb) return withContiguous(rt, b, (c) => matmul(rt, blas, precision, a, c, out));
  if (!lc || lc.op !== CUBLAS_OP_N) {
    // cuBLAS writes C column-major only: compute into a contiguous block, then copy
    const bytes = batch * m * n * 4;
    const tmp = new CudaStorage('float32', batch * m * n, rt.alloc(bytes), bytes);
    const view: View = { storage: tmp, shape: out.shape, strides: contiguousStrides(out.shape), offset: 0 };
    matmul(rt, blas, precision, a, b, view);
    elementwise(rt, [input(0)], [view], [out]);
    rt.release(tmp.ptr, bytes);
    return;
  }
  const ptr = (v: View) => (v.storage as CudaStorage).ptr + BigInt(v.offset * 4);
  rt.timed(() => rt.driver.checkBlas('cublasGemmStridedBatchedEx', blas, lb.op, la.op, n, m, k, ONE,
    ptr(b), CUDA_R_32F, lb.ld, BigInt(batch > 1 ? b.strides[0]! : 0),
    ptr(a), CUDA_R_32F, la.ld, BigInt(batch > 1 ? a.strides[0]! : 0),
    ZERO, ptr(out), CUDA_R_32F, lc.ld, BigInt(batch > 1 ? out.strides[0]! : 0), batch,
    precision === 'tf32' ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/** Runs fn on a contiguous copy of v. */
function withContiguous(rt: CudaRuntime, v: View, fn: (copy: View) => void): void {
  const size = v.shape.reduce((x, y) => x * y, 1), bytes = size * 4;
  const tmp = new CudaStorage('float32', size, rt.alloc(bytes), bytes);
  const copy: View = { storage: tmp, shape: v.shape, strides: contiguousStrides(v.shape), offset: 0 };
  elementwise(rt, [input(0)], [v], [copy]);
  fn(copy);
  // the stream orders later reuse of this block after the GEMM that reads it
  rt.release(tmp.ptr, bytes);
}
