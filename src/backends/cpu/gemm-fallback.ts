// Built-in GEMM for machines without a BLAS: packed panels of B and a 4-row kernel that
// reuses each loaded B value four times. Several times slower than a BLAS, far from naive.

const KC = 256;
const NC = 1024;

/** C[M,N] = A[M,K] @ B[K,N]; every operand given by (array, offset, rowStride, colStride). */
export function gemmFallback(
  m: number, n: number, k: number,
  a: Float32Array, aOff: number, aRs: number, aCs: number,
  b: Float32Array, bOff: number, bRs: number, bCs: number,
  c: Float32Array, cOff: number, cRs: number,
): void {
  for (let i = 0; i < m; i++) c.fill(0, cOff + i * cRs, cOff + i * cRs + n);
  const panel = new Float32Array(KC * NC);
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      for (let p = 0; p < kc; p++) {
        const src = bOff + (p0 + p) * bRs + j0 * bCs;
        for (let j = 0; j < nc; j++) panel[p * nc + j] = b[src + j * bCs]!;
      }
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const c0 = cOff + i * cRs + j0, c1 = c0 + cRs, c2 = c1 + cRs, c3 = c2 + cRs;
        for (let p = 0; p < kc; p++) {
          const ak = aOff + (p0 + p) * aCs + i * aRs;
          const x0 = a[ak]!, x1 = a[ak + aRs]!, x2 = a[ak + 2 * aRs]!, x3 = a[ak + 3 * aRs]!;
          const row = p * nc;
          for (let j = 0; j < nc; j++) {
            const y = panel[row + j]!;
            c[c0 + j] += x0 * y; c[c1 + j] += x1 * y; c[c2 + j] += x2 * y; c[c3 + j] += x3 * y;
          }
        }
      }
      for (; i < m; i++) {
        const c0 = cOff + i * cRs + j0;
        for (let p = 0; p < kc; p++) {
          const x = a[aOff + i * aRs + (p0 + p) * aCs]!;
          const row = p * nc;
          for (let j = 0; j < nc; j++) c[c0 + j] += x * panel[row + j]!;
        }
      }
    }
  }
}
