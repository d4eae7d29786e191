// Many small matrix products in one WebAssembly SIMD call: attention's per-head products
// (16x16 matrices, a hundred of them per batch) cost more in BLAS call overhead than in
// arithmetic. Two layouts: B's rows contiguous (each C row a sum of B rows scaled by A's
// elements), or A's rows and B's columns contiguous (each C element one dot product).
import type { View } from '../backend.js';
import { heap } from './heap.js';
import { byteAddress } from './storage.js';
import { I32, V128, forUp, kernelModule, op, v128Const } from './wasm-encoder.js';
import { F, V } from './wasm-expr.js';

type Kernel = (...args: number[]) => void;

/** Products no larger than this (m * n * k) take the kernel; larger ones are worth a BLAS call each. */
const SMALL = 32 * 32 * 32;
const EXTRACT_LANE = 0x1f, F32_ADD = 0x92;

// args: A, B, C, batch, m, n, k, then byte strides: A batch/row/col, B batch/row/col, C batch/row
const [A, B, C, BATCH, M, N, K, ABS, ARS, ACS, BBS, BRS, BCS, CBS, CRS] = Array.from({ length: 15 }, (_, i) => i);
// locals
const [T, I, J, P, AROW, BCOL, CROW, APTR, BPTR, ACC] = Array.from({ length: 10 }, (_, i) => 15 + i);
const get = op.localGet, set = op.localSet;
const ZERO = v128Const(0);

/** C[i, j:j+4] = sum over p of A[i, p] * B[p, j:j+4]: B rows and C rows contiguous, n a multiple of 4. */
const ROWS_BODY = forUp(T, get(BATCH), 1, forUp(I, get(M), 1, [
  ...get(A), ...get(T), ...get(ABS), ...op.i32Mul, ...op.i32Add, ...get(I), ...get(ARS), ...op.i32Mul, ...op.i32Add, ...set(AROW),
  ...get(C), ...get(T), ...get(CBS), ...op.i32Mul, ...op.i32Add, ...get(I), ...get(CRS), ...op.i32Mul, ...op.i32Add, ...set(CROW),
  ...forUp(J, [...get(N), ...op.i32Const(2), ...op.i32Shl], 16, [
    ...ZERO, ...set(ACC),
    ...get(AROW), ...set(APTR),
    ...get(B), ...get(T), ...get(BBS), ...op.i32Mul, ...op.i32Add, ...get(J), ...op.i32Add, ...set(BPTR),
    ...forUp(P, get(K), 1, [
      ...get(ACC), ...get(APTR), ...op.simd(V.loadSplat, 2, 0), ...get(BPTR), ...op.simd(V.load, 0, 0), ...op.simd(F.mul), ...op.simd(F.add), ...set(ACC),
      ...get(APTR), ...get(ACS), ...op.i32Add, ...set(APTR),
      ...get(BPTR), ...get(BRS), ...op.i32Add, ...set(BPTR),
    ]),
    ...get(CROW), ...get(J), ...op.i32Add, ...get(ACC), ...op.simd(V.store, 0, 0),
  ]),
]));

/** C[i, j] = A[i, :] . B[:, j]: A rows and B columns contiguous, k a multiple of 4. */
const DOTS_BODY = forUp(T, get(BATCH), 1, forUp(I, get(M), 1, [
  ...get(A), ...get(T), ...get(ABS), ...op.i32Mul, ...op.i32Add, ...get(I), ...get(ARS), ...op.i32Mul, ...op.i32Add, ...set(AROW),
  ...get(C), ...get(T), ...get(CBS), ...op.i32Mul, ...op.i32Add, ...get(I), ...get(CRS), ...op.i32Mul, ...op.i32Add, ...set(CROW),
  ...forUp(J, get(N), 1, [
    ...ZERO, ...set(ACC),
    ...get(B), ...get(T), ...get(BBS), ...op.i32Mul, ...op.i32Add, ...get(J), ...get(BCS), ...op.i32Mul, ...op.i32Add, ...set(BCOL),
    ...forUp(P, [...get(K), ...op.i32Const(2), ...op.i32Shl], 16, [
      ...get(ACC), ...get(AROW), ...get(P), ...op.i32Add, ...op.simd(V.load, 0, 0), ...get(BCOL), ...get(P), ...op.i32Add, ...op.simd(V.load, 0, 0), ...op.simd(F.mul), ...op.simd(F.add), ...set(ACC),
    ]),
    ...get(CROW), ...get(J), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
    ...get(ACC), ...op.simd(EXTRACT_LANE, 0), ...get(ACC), ...op.simd(EXTRACT_LANE, 1), F32_ADD, ...get(ACC), ...op.simd(EXTRACT_LANE, 2), ...get(ACC), ...op.simd(EXTRACT_LANE, 3), F32_ADD, F32_ADD,
    ...op.f32Store,
  ]),
]));

const kernels = new Map<string, Kernel>();
function kernel(body: 'rows' | 'dots'): Kernel {
  let k = kernels.get(body);
  if (!k) {
    const module = new WebAssembly.Module(kernelModule(new Array<number>(15).fill(I32), [...new Array<number>(9).fill(I32), V128], body === 'rows' ? ROWS_BODY : DOTS_BODY));
    k = new WebAssembly.Instance(module, { e: { m: heap.memory } }).exports['k'] as Kernel;
    kernels.set(body, k);
  }
  return k;
}

/** The batch of small float32 products in one call, or null when the sizes or layouts do not suit. */
export function planSmallGemms(a: View, b: View, out: View): (() => void) | null {
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  if (batch < 2 || m * n * k > SMALL || m === 0 || n === 0 || k === 0 || out.strides[2] !== 1) return null;
  const [aBs, aRs, aCs] = a.strides as [number, number, number];
  const [bBs, bRs, bCs] = b.strides as [number, number, number];
  const [cBs, cRs] = out.strides as [number, number, number];
  let body: 'rows' | 'dots';
  if (bCs === 1 && n % 4 === 0) body = 'rows';
  else if (aCs === 1 && bRs === 1 && k % 4 === 0) body = 'dots';
  else return null;
  const args = [byteAddress(a), byteAddress(b), byteAddress(out), batch, m, n, k, ...[aBs, aRs, aCs, bBs, bRs, bCs, cBs, cRs].map((s) => s * 4)];
  const run = kernel(body);
  return () => run(...args);
}
