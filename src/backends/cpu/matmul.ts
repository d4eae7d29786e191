// Batched matrix products on the CPU: many small ones in one SIMD call (wasm-gemm.ts); others
// go straight to cblas_sgemm when each matrix is row- or column-major (so transposes cost
// nothing); otherwise (no BLAS, as in browsers) the tiled SIMD GEMM, or the JavaScript one.
import type { View } from '../backend.js';
import { type BlasLibrary, NO_TRANS, TRANS, useThreadsFor } from './blas.js';
import { gemmFallback } from './gemm-fallback.js';
import { dataOf } from './storage.js';
import { SIMD } from './elementwise.js';
import { planSmallGemms } from './wasm-gemm.js';
import { tiledGemm } from './wasm-gemm-tiled.js';

interface Layout { trans: boolean; ld: number }

/** How BLAS can read a rows x cols matrix with these strides, or null if it cannot. */
function blasLayout(rows: number, cols: number, rs: number, cs: number): Layout | null {
  if ((cs === 1 || cols === 1) && (rows === 1 || rs >= cols)) return { trans: false, ld: rows === 1 ? Math.max(cols, 1) : Math.max(rs, 1) };
  if ((rs === 1 || rows === 1) && (cols === 1 || cs >= rows)) return { trans: true, ld: cols === 1 ? Math.max(rows, 1) : Math.max(cs, 1) };
  return null;
}

export function runMatmul(a: View, b: View, out: View, lib: BlasLibrary | null): void {
  const sgemm = lib?.sgemm ?? null;
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  const [aBs, aRs, aCs] = a.strides as [number, number, number];
  const [bBs, bRs, bCs] = b.strides as [number, number, number];
  const [cBs, cRs] = out.strides as [number, number, number];
  if (m === 0 || n === 0) return;
  const small = SIMD ? planSmallGemms(a, b, out) : null;
  if (small) return small();
  if (lib) useThreadsFor(lib, batch * m, n, k);
  for (let i = 0; i < batch; i++) {
    const aOff = a.offset + i * aBs, bOff = b.offset + i * bBs, cOff = out.offset + i * cBs;
    // fetched for each matrix: the tiled GEMM's scratch may grow the heap, detaching older arrays
    const A = dataOf(a) as Float32Array, B = dataOf(b) as Float32Array, C = dataOf(out) as Float32Array;
    if (k === 0) {
      for (let r = 0; r < m; r++) C.fill(0, cOff + r * cRs, cOff + r * cRs + n);
      continue;
    }
    const la = sgemm && blasLayout(m, k, aRs, aCs);
    const lb = sgemm && blasLayout(k, n, bRs, bCs);
    if (sgemm && la && lb) {
      sgemm(la.trans ? TRANS : NO_TRANS, lb.trans ? TRANS : NO_TRANS, m, n, k, 1,
        A.subarray(aOff), la.ld, B.subarray(bOff), lb.ld, 0, C.subarray(cOff), Math.max(cRs, n));
    } else if (!(SIMD && tiledGemm(a, aOff, b, bOff, out, cOff, m, n, k))) {
      gemmFallback(m, n, k, A, aOff, aRs, aCs, B, bOff, bRs, bCs, C, cOff, cRs);
    }
  }
}
