// The GEMM for machines without a BLAS (every browser): B packed into strips of 8 columns, and
// a WebAssembly SIMD kernel that keeps a 4x8 tile of C in eight vector registers, so each value
// loaded from B is used four times and each from A eight times. The rows and columns left over
// (m % 4, n % 8) go to the built-in JavaScript GEMM.
import type { View } from '../backend.js';
import { gemmFallback } from './gemm-fallback.js';
import { heap } from './heap.js';
import { byteAddress, dataOf } from './storage.js';
import { I32, V128, forUp, kernelModule, op, v128Const } from './wasm-encoder.js';
import { F, V } from './wasm-expr.js';

/** Rows of A per call, so that block of A stays in cache while every strip of B passes over it. */
const ROW_BLOCK = 128;
const TILE_M = 4, TILE_N = 8;

// args: A (row 0 of the block), packed B, C (row 0 of the block), rows (a multiple of 4), strips, K, then byte strides: A row, A col, C row
const [A, P, C, ROWS, STRIPS, K, ARS, ACS, CRS] = Array.from({ length: 9 }, (_, i) => i);
// i32 locals, then v128: eight accumulators (row r, half h at 11 + 2r + h), B's two halves, A's splat
const [S, I, Q, PS, A0, A1, A2, A3, BP, OFF, CROW] = Array.from({ length: 11 }, (_, i) => 9 + i);
const ACC = 20, B0 = 28, B1 = 29, X = 30;
const get = op.localGet, set = op.localSet;
const ROW_PTRS = [A0, A1, A2, A3];

const BODY = forUp(S, get(STRIPS), 1, [
  // this strip's packed B (K x 8 floats) and its first column of C
  ...get(P), ...get(S), ...get(K), ...op.i32Mul, ...op.i32Const(TILE_N * 4), ...op.i32Mul, ...op.i32Add, ...set(PS),
  ...forUp(I, get(ROWS), TILE_M, [
    ...get(A), ...get(I), ...get(ARS), ...op.i32Mul, ...op.i32Add, ...set(A0),
    ...get(A0), ...get(ARS), ...op.i32Add, ...set(A1),
    ...get(A1), ...get(ARS), ...op.i32Add, ...set(A2),
    ...get(A2), ...get(ARS), ...op.i32Add, ...set(A3),
    ...Array.from({ length: 8 }, (_, j) => [...v128Const(0), ...set(ACC + j)]).flat(),
    ...get(PS), ...set(BP),
    ...op.i32Const(0), ...set(OFF),
    ...forUp(Q, get(K), 1, [
      ...get(BP), ...op.simd(V.load, 4, 0), ...set(B0),
      ...get(BP), ...op.simd(V.load, 4, 16), ...set(B1),
      ...ROW_PTRS.flatMap((rowPtr, r) => [
        ...get(rowPtr), ...get(OFF), ...op.i32Add, ...op.simd(V.loadSplat, 2, 0), ...set(X),
        ...get(ACC + 2 * r), ...get(X), ...get(B0), ...op.simd(F.mul), ...op.simd(F.add), ...set(ACC + 2 * r),
        ...get(ACC + 2 * r + 1), ...get(X), ...get(B1), ...op.simd(F.mul), ...op.simd(F.add), ...set(ACC + 2 * r + 1),
      ]),
      ...get(BP), ...op.i32Const(TILE_N * 4), ...op.i32Add, ...set(BP),
      ...get(OFF), ...get(ACS), ...op.i32Add, ...set(OFF),
    ]),
    ...get(C), ...get(I), ...get(CRS), ...op.i32Mul, ...op.i32Add, ...get(S), ...op.i32Const(TILE_N * 4), ...op.i32Mul, ...op.i32Add, ...set(CROW),
    ...[0, 1, 2, 3].flatMap((r) => [
      ...get(CROW), ...get(ACC + 2 * r), ...op.simd(V.store, 2, 0),
      ...get(CROW), ...get(ACC + 2 * r + 1), ...op.simd(V.store, 2, 16),
      ...get(CROW), ...get(CRS), ...op.i32Add, ...set(CROW),
    ]),
  ]),
]);

let tileKernel: ((...args: number[]) => void) | null = null;
function kernel(): (...args: number[]) => void {
  if (!tileKernel) {
    const module = new WebAssembly.Module(kernelModule(new Array<number>(9).fill(I32), [...new Array<number>(11).fill(I32), ...new Array<number>(11).fill(V128)], BODY));
    tileKernel = new WebAssembly.Instance(module, { e: { m: heap.memory } }).exports['k'] as (...args: number[]) => void;
  }
  return tileKernel;
}

/** Below this many multiply-adds the JavaScript GEMM is as fast (packing and calls cost more). */
const WORTH_IT = 16 * 16 * 16;

/**
 * C[m, n] = A[m, k] @ B[k, n] for one matrix of each view (offsets and strides in elements, C's
 * columns contiguous); false when the sizes do not suit and nothing was computed.
 */
export function tiledGemm(a: View, aOff: number, b: View, bOff: number, out: View, cOff: number, m: number, n: number, k: number): boolean {
  const [, aRs, aCs] = a.strides as [number, number, number];
  const [, bRs, bCs] = b.strides as [number, number, number];
  const cRs = out.strides[1]!;
  const m4 = m - (m % TILE_M), strips = Math.floor(n / TILE_N), n8 = strips * TILE_N;
  if (m4 === 0 || strips === 0 || k === 0 || out.strides[2] !== 1 || m * n * k < WORTH_IT) return false;
  const packedBytes = strips * k * TILE_N * 4, packed = heap.alloc(packedBytes);
  // typed arrays over the heap only now: the allocation may have grown it, detaching older ones
  const Af = dataOf(a) as Float32Array, Bf = dataOf(b) as Float32Array, Cf = dataOf(out) as Float32Array;
  try {
    // strip s holds B[:, 8s:8s+8] row after row
    const P = new Float32Array(heap.memory.buffer, packed, strips * k * TILE_N);
    for (let s = 0; s < strips; s++) {
      for (let q = 0; q < k; q++) {
        const src = bOff + q * bRs + s * TILE_N * bCs, dst = (s * k + q) * TILE_N;
        for (let j = 0; j < TILE_N; j++) P[dst + j] = Bf[src + j * bCs]!;
      }
    }
    const base = (v: View, off: number) => byteAddress(v) + (off - v.offset) * 4;
    const aAt = base(a, aOff), cAt = base(out, cOff), run = kernel();
    for (let r0 = 0; r0 < m4; r0 += ROW_BLOCK) {
      const rows = Math.min(ROW_BLOCK, m4 - r0);
      run(aAt + r0 * aRs * 4, packed, cAt + r0 * cRs * 4, rows, strips, k, aRs * 4, aCs * 4, cRs * 4);
    }
  } finally {
    heap.free(packed, packedBytes);
  }
  // the fringes: the last n % 8 columns of every row, then the last m % 4 rows' first n8 columns
  if (n8 < n) gemmFallback(m, n - n8, k, Af, aOff, aRs, aCs, Bf, bOff + n8 * bCs, bRs, bCs, Cf, cOff + n8, cRs);
  if (m4 < m) gemmFallback(m - m4, n8, k, Af, aOff + m4 * aRs, aRs, aCs, Bf, bOff, bRs, bCs, Cf, cOff + m4 * cRs, cRs);
  return true;
}
