// Matrix products through cuBLASLt: one plan per problem (operation descriptor, three layouts
// and the algorithm cuBLASLt's heuristic picked for a 32 MiB workspace), made on first use and
// reused on every later call with the same shapes, types and strides. A problem the heuristic
// has no algorithm for, or a library that refuses a call, falls back to cuBLAS (gemm.ts).
import { TesseraError } from '../../core/errors.js';
import { type CudaDriver, bind } from './driver.js';
import type { CudaRuntime } from './runtime.js';

type Fn = (...args: unknown[]) => unknown;

const PROTOTYPES = {
  cublasLtCreate: 'int cublasLtCreate(_Out_ void **handle)',
  cublasLtDestroy: 'int cublasLtDestroy(void *handle)',
  cublasLtGetVersion: 'size_t cublasLtGetVersion()',
  cublasLtMatmulDescCreate: 'int cublasLtMatmulDescCreate(_Out_ void **desc, int computeType, int scaleType)',
  cublasLtMatmulDescSetAttribute: 'int cublasLtMatmulDescSetAttribute(void *desc, int attr, const void *buf, size_t bytes)',
  cublasLtMatmulDescDestroy: 'int cublasLtMatmulDescDestroy(void *desc)',
  cublasLtMatrixLayoutCreate: 'int cublasLtMatrixLayoutCreate(_Out_ void **layout, int type, uint64_t rows, uint64_t cols, int64_t ld)',
  cublasLtMatrixLayoutSetAttribute: 'int cublasLtMatrixLayoutSetAttribute(void *layout, int attr, const void *buf, size_t bytes)',
  cublasLtMatrixLayoutDestroy: 'int cublasLtMatrixLayoutDestroy(void *layout)',
  cublasLtMatmulPreferenceCreate: 'int cublasLtMatmulPreferenceCreate(_Out_ void **pref)',
  cublasLtMatmulPreferenceSetAttribute: 'int cublasLtMatmulPreferenceSetAttribute(void *pref, int attr, const void *buf, size_t bytes)',
  cublasLtMatmulPreferenceDestroy: 'int cublasLtMatmulPreferenceDestroy(void *pref)',
  cublasLtMatmulAlgoGetHeuristic: 'int cublasLtMatmulAlgoGetHeuristic(void *handle, void *desc, void *a, void *b, void *c, void *d, void *pref, int requested, _Out_ uint8_t *results, _Out_ int *count)',
  cublasLtMatmul: 'int cublasLtMatmul(void *handle, void *desc, const float *alpha, uint64_t a, void *adesc, uint64_t b, void *bdesc, const float *beta, uint64_t c, void *cdesc, uint64_t d, void *ddesc, const uint8_t *algo, uint64_t workspace, size_t workspaceBytes, void *stream)',
} as const;

// cublasLt.h: attribute numbers and the heuristic result (a 64-byte algorithm, then size_t
// workspaceSize, int state, float wavesCount, int reserved[4]: 96 bytes)
const DESC_TRANSA = 3, DESC_TRANSB = 4;
const LAYOUT_BATCH_COUNT = 5, LAYOUT_STRIDED_BATCH_OFFSET = 6;
const PREF_MAX_WORKSPACE_BYTES = 1;
const HEURISTIC_RESULT_BYTES = 96, ALGO_BYTES = 64;
const CUDA_R_32F = 0;
export const LT_WORKSPACE_BYTES = 32 << 20;

/** One GEMM in cuBLAS's column-major terms: C[m, n] = op(A)[m, k] op(B)[k, n], `batch` times. */
export interface GemmProblem {
  type: number; compute: number; opA: number; opB: number;
  m: number; n: number; k: number;
  lda: number; ldb: number; ldc: number;
  strideA: number; strideB: number; strideC: number; batch: number;
}

interface Plan { desc: unknown; a: unknown; b: unknown; c: unknown; algo: Uint8Array; workspace: number }

const ONE = Float32Array.of(1), ZERO = Float32Array.of(0);

export class LtGemm {
  private readonly fn: Record<keyof typeof PROTOTYPES, Fn>;
  private readonly handle: unknown;
  private readonly plans = new Map<string, Plan | null>();
  private workspace: bigint | null = null;
  readonly version: number;

  constructor(driver: CudaDriver, readonly path: string) {
    this.fn = bind(driver.koffi, path, PROTOTYPES) as Record<keyof typeof PROTOTYPES, Fn>;
    const h: unknown[] = [null];
    this.check('cublasLtCreate', h);
    this.handle = h[0];
    this.version = Number(this.fn.cublasLtGetVersion());
  }

  /**
   * Enqueues the product on the runtime's stream, or returns false when cuBLASLt has no
   * algorithm for it (the caller then uses cuBLAS).
   */
  run(rt: CudaRuntime, p: GemmProblem, a: bigint, b: bigint, c: bigint): boolean {
    const key = `${p.type}|${p.compute}|${p.opA}${p.opB}|${p.m},${p.n},${p.k}|${p.lda},${p.ldb},${p.ldc}|${p.strideA},${p.strideB},${p.strideC}|${p.batch}`;
    let plan = this.plans.get(key);
    if (plan === undefined) this.plans.set(key, (plan = this.plan(p)));
    if (!plan) return false;
    if (plan.workspace > 0 && this.workspace === null) this.workspace = rt.alloc(LT_WORKSPACE_BYTES);
    rt.timed(() => this.check('cublasLtMatmul', this.handle, plan.desc, ONE, a, plan.a, b, plan.b, ZERO, c, plan.c, c, plan.c,
      plan.algo, plan.workspace > 0 ? this.workspace : 0n, plan.workspace, rt.stream));
    return true;
  }

  private plan(p: GemmProblem): Plan | null {
    const desc = this.out('cublasLtMatmulDescCreate', p.compute, CUDA_R_32F);
    this.check('cublasLtMatmulDescSetAttribute', desc, DESC_TRANSA, Int32Array.of(p.opA), 4);
    this.check('cublasLtMatmulDescSetAttribute', desc, DESC_TRANSB, Int32Array.of(p.opB), 4);
    const layout = (rows: number, cols: number, ld: number, stride: number) => {
      const l = this.out('cublasLtMatrixLayoutCreate', p.type, rows, cols, ld);
      if (p.batch > 1) {
        this.check('cublasLtMatrixLayoutSetAttribute', l, LAYOUT_BATCH_COUNT, Int32Array.of(p.batch), 4);
        this.check('cublasLtMatrixLayoutSetAttribute', l, LAYOUT_STRIDED_BATCH_OFFSET, BigInt64Array.of(BigInt(stride)), 8);
      }
      return l;
    };
    // stored shapes: op(A) is m x k, so A itself is m x k or (transposed) k x m
    const a = p.opA === 0 ? layout(p.m, p.k, p.lda, p.strideA) : layout(p.k, p.m, p.lda, p.strideA);
    const b = p.opB === 0 ? layout(p.k, p.n, p.ldb, p.strideB) : layout(p.n, p.k, p.ldb, p.strideB);
    const c = layout(p.m, p.n, p.ldc, p.strideC);
    const pref = this.out('cublasLtMatmulPreferenceCreate');
    try {
      this.check('cublasLtMatmulPreferenceSetAttribute', pref, PREF_MAX_WORKSPACE_BYTES, BigUint64Array.of(BigInt(LT_WORKSPACE_BYTES)), 8);
      const results = new Uint8Array(HEURISTIC_RESULT_BYTES), count = [0];
      const status = this.fn.cublasLtMatmulAlgoGetHeuristic(this.handle, desc, a, b, c, c, pref, 1, results, count) as number;
      const state = new DataView(results.buffer).getInt32(ALGO_BYTES + 8, true);
      if (status !== 0 || count[0] === 0 || state !== 0) {
        for (const l of [a, b, c]) this.check('cublasLtMatrixLayoutDestroy', l);
        this.check('cublasLtMatmulDescDestroy', desc);
        return null;
      }
      const workspace = Number(new DataView(results.buffer).getBigUint64(ALGO_BYTES, true));
      return { desc, a, b, c, algo: results.slice(0, ALGO_BYTES), workspace: Math.min(workspace, LT_WORKSPACE_BYTES) };
    } finally {
      this.check('cublasLtMatmulPreferenceDestroy', pref);
    }
  }

  /** Frees every plan and the workspace (after the stream is done with them). */
  close(rt: CudaRuntime): void {
    for (const plan of this.plans.values()) {
      if (!plan) continue;
      for (const l of [plan.a, plan.b, plan.c]) this.check('cublasLtMatrixLayoutDestroy', l);
      this.check('cublasLtMatmulDescDestroy', plan.desc);
    }
    this.plans.clear();
    if (this.workspace !== null) rt.release(this.workspace, LT_WORKSPACE_BYTES);
    this.workspace = null;
    this.check('cublasLtDestroy', this.handle);
  }

  private out(name: keyof typeof PROTOTYPES, ...args: unknown[]): unknown {
    const o: unknown[] = [null];
    this.check(name, o, ...args);
    return o[0];
  }

  private check(name: keyof typeof PROTOTYPES, ...args: unknown[]): void {
    const status = this.fn[name](...args) as number;
    if (status !== 0) throw new TesseraError('cuda', `${name} failed with cuBLAS status ${status}`);
  }
}
