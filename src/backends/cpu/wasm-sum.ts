// Whole-tensor sums of contiguous float32 data with WebAssembly SIMD: four lanes, each
// accumulated in double precision (as the scalar kernels do), so a large sum runs at memory
// speed rather than a JavaScript loop's (about 10x for the 100k-element gradients of an MLP).
import type { Expr } from '../../core/expr.js';
import { isContiguous, sizeOf } from '../../core/shape.js';
import type { View } from '../backend.js';
import { heap } from './heap.js';
import { byteAddress } from './storage.js';
import { I32, V128, instantiateKernel, op } from './wasm-encoder.js';

const F64 = 0x7c;
const get = op.localGet, set = op.localSet;
const simd = (code: number, ...imm: number[]) => op.simd(code, ...imm);
// params: src, n, dst (byte addresses); locals: p, end, acc0, acc1, v, tail
const [SRC, N, DST, P, END, ACC0, ACC1, V, TAIL] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const ZERO128 = simd(0x0c, ...new Array<number>(16).fill(0));
const PROMOTE_LOW = 0x5f, F64X2_ADD = 0xf0, EXTRACT = 0x21, SHUFFLE = 0x0d;
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const f64Add = [0xa0], promote = [0xbb], demote = [0xb6], i32And = [0x71];
const f64Zero = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];

const addInto = (acc: number, lanes: number[]) => [...get(acc), ...lanes, ...simd(PROMOTE_LOW), ...simd(F64X2_ADD), ...set(acc)];

/** while (p < end) { body; p += step } */
const whileBelow = (step: number, body: number[]) => [
  ...op.block, ...op.loop,
  ...get(P), ...get(END), ...op.i32GeU, ...op.brIf(1),
  ...body,
  ...get(P), ...op.i32Const(step), ...op.i32Add, ...set(P),
  ...op.br(0), ...op.end, ...op.end,
];

const BODY = [
  ...ZERO128, ...set(ACC0), ...ZERO128, ...set(ACC1), ...f64Zero, ...set(TAIL),
  ...get(SRC), ...set(P),
  // end of the whole vectors: src + (n & ~3) * 4
  ...get(SRC), ...get(N), ...op.i32Const(-4), ...i32And, ...op.i32Const(4), ...op.i32Mul, ...op.i32Add, ...set(END),
  ...whileBelow(16, [
    ...get(P), ...simd(0x00, 0, 0), ...set(V),
    ...addInto(ACC0, get(V)),
    ...addInto(ACC1, [...get(V), ...get(V), ...simd(SHUFFLE, ...HIGH_HALF)]),
  ]),
  ...get(SRC), ...get(N), ...op.i32Const(4), ...op.i32Mul, ...op.i32Add, ...set(END),
  ...whileBelow(4, [...get(TAIL), ...get(P), ...op.f32Load, ...promote, ...f64Add, ...set(TAIL)]),
  ...get(DST),
  ...get(ACC0), ...simd(EXTRACT, 0), ...get(ACC0), ...simd(EXTRACT, 1), ...f64Add,
  ...get(ACC1), ...simd(EXTRACT, 0), ...f64Add, ...get(ACC1), ...simd(EXTRACT, 1), ...f64Add,
  ...get(TAIL), ...f64Add, ...demote, ...op.f32Store,
];

let kernel: ((src: number, n: number, dst: number) => void) | null = null;

/** A sum over every axis of one contiguous float32 input; null when the case does not apply. */
export function planWasmSum(expr: Expr, inputs: readonly View[], axes: readonly number[], out: View): (() => void) | null {
  if (expr.kind !== 'input' || expr.dtype !== 'float32' || inputs.length !== 1) return null;
  const x = inputs[0]!, n = sizeOf(x.shape);
  if (axes.length !== x.shape.length || n < 64 || !isContiguous(x.shape, x.strides)) return null;
  const k = (kernel ??= instantiateKernel([I32, I32, I32], [I32, I32, V128, V128, V128, F64], BODY, heap.memory) as (src: number, n: number, dst: number) => void);
  const src = byteAddress(x), dst = byteAddress(out);
  return () => k(src, n, dst);
}
