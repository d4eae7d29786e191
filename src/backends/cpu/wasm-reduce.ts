// SIMD reductions with the expression fused in, one WebAssembly call each: along the innermost
// axis (softmax's sum of exp(x - max), layer norm's moments, a row's max), four lanes per step,
// or over the leading axes (a scale's gradient, sum over rows of g * x-hat), four columns per
// step. Lengths that are not whole vectors, other layouts and kinds run as JavaScript.
import type { Expr } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import { collapseDims } from '../../core/shape.js';
import type { ReduceKind, View } from '../backend.js';
import { heap } from './heap.js';
import { type CpuStorage, byteAddress } from './storage.js';
import { F32, I32, V128, kernelModule, op } from './wasm-encoder.js';
import { BodyEmitter, F, V, paramCount, supported } from './wasm-expr.js';

type Kernel = (...args: number[]) => void;
type SimdKind = 'sum' | 'max' | 'min';

const INIT: Record<SimdKind, number> = { sum: 0, max: -Infinity, min: Infinity };
// the vector and scalar combining ops: f32x4 add/max/min, f32 add/max/min
const VECTOR: Record<SimdKind, number> = { sum: F.add, max: F.max, min: F.min };
const SCALAR: Record<SimdKind, number> = { sum: 0x92, max: 0x97, min: 0x96 };
const EXTRACT_LANE = 0x1f;

/**
 * Signature: in pointers, out pointer, row length, rows, in row strides (bytes), out row
 * stride (bytes), params (f32). Inputs broadcast along the row are splat once per row.
 */
function compile(kind: SimdKind, expr: Expr, nIn: number, nParams: number, rowBroadcast: readonly boolean[]): Kernel {
  const inPtr = (k: number) => k, outPtr = nIn, len = nIn + 1, rows = nIn + 2;
  const inStride = (k: number) => nIn + 3 + k, outStride = 2 * nIn + 3;
  const param = (p: number) => 2 * nIn + 4 + p;
  const nArgs = 2 * nIn + 4 + nParams;
  // locals: r, i, endBytes, inCur[nIn], paramVec[nParams], splat[nIn], acc, temps...
  const r = nArgs, i = nArgs + 1, endBytes = nArgs + 2;
  const inCur = (k: number) => nArgs + 3 + k, paramVec = (p: number) => nArgs + 3 + nIn + p;
  const splat = (k: number) => nArgs + 3 + nIn + nParams + k, acc = nArgs + 3 + 2 * nIn + nParams;
  const emitter = new BodyEmitter(acc + 1,
    (k) => (rowBroadcast[k] ? op.localGet(splat(k)) : [...op.localGet(inCur(k)), ...op.localGet(i), ...op.i32Add, ...op.simd(V.load, 0, 0)]),
    paramVec);
  const value = emitter.local(expr);
  const lane = (n: number) => [...op.localGet(acc), ...op.simd(EXTRACT_LANE, n)];
  const body: number[] = [
    ...op.localGet(len), ...op.i32Const(2), ...op.i32Shl, ...op.localSet(endBytes),
    ...Array.from({ length: nParams }, (_, p) => [...op.localGet(param(p)), ...op.simd(F.splat), ...op.localSet(paramVec(p))]).flat(),
    ...op.block, ...op.loop,
    ...op.localGet(r), ...op.localGet(rows), ...op.i32GeU, ...op.brIf(1),
    ...Array.from({ length: nIn }, (_, k) => [...op.localGet(inPtr(k)), ...op.localGet(r), ...op.localGet(inStride(k)), ...op.i32Mul, ...op.i32Add, ...op.localSet(inCur(k))]).flat(),
    ...Array.from({ length: nIn }, (_, k) => (rowBroadcast[k] ? [...op.localGet(inCur(k)), ...op.simd(V.loadSplat, 2, 0), ...op.localSet(splat(k))] : [])).flat(),
    ...op.f32Const(INIT[kind]), ...op.simd(F.splat), ...op.localSet(acc),
    ...op.i32Const(0), ...op.localSet(i),
    ...op.block, ...op.loop,
    ...op.localGet(i), ...op.localGet(endBytes), ...op.i32GeU, ...op.brIf(1),
    ...emitter.code,
    ...op.localGet(acc), ...op.localGet(value), ...op.simd(VECTOR[kind]), ...op.localSet(acc),
    ...op.localGet(i), ...op.i32Const(16), ...op.i32Add, ...op.localSet(i),
    ...op.br(0), ...op.end, ...op.end,
    // the four lanes into one: out[r] = (l0 . l1) . (l2 . l3)
    ...op.localGet(outPtr), ...op.localGet(r), ...op.localGet(outStride), ...op.i32Mul, ...op.i32Add,
    ...lane(0), ...lane(1), SCALAR[kind]!, ...lane(2), ...lane(3), SCALAR[kind]!, SCALAR[kind]!,
    ...op.f32Store,
    ...op.localGet(r), ...op.i32Const(1), ...op.i32Add, ...op.localSet(r),
    ...op.br(0), ...op.end, ...op.end,
  ];
  const params = [...new Array<number>(2 * nIn + 4).fill(I32), ...new Array<number>(nParams).fill(F32)];
  const locals = [I32, I32, I32, ...new Array<number>(nIn).fill(I32), ...new Array<number>(nParams + nIn + 1).fill(V128), ...emitter.temps];
  const module = new WebAssembly.Module(kernelModule(params, locals, body));
  return new WebAssembly.Instance(module, { e: { m: heap.memory } }).exports['k'] as Kernel;
}

const cache = new Map<string, Kernel | null>();

/**
 * The SIMD kernel for a float32 sum, max or min over the innermost axes, or null. The reduced
 * axes must collapse to one, contiguous or broadcast in every input, of whole vectors; the kept
 * ones to one row index.
 */
export function planWasmRowReduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View): ((params: readonly number[]) => void) | null {
  if ((kind !== 'sum' && kind !== 'max' && kind !== 'min') || expr.dtype !== 'float32' || inputs.length === 0) return null;
  const full = inputs[0]!.shape, rank = full.length;
  if (axes.length === 0 || axes.some((a, j) => a !== rank - axes.length + j)) return null;
  if (inputs.some((v) => (v.storage as CpuStorage).dtype !== 'float32' && (v.storage as CpuStorage).dtype !== 'int32')) return null;
  const keptRank = rank - axes.length;
  const red = collapseDims(full.slice(keptRank), inputs.map((v) => v.strides.slice(keptRank)));
  const kept = collapseDims(full.slice(0, keptRank), [...inputs.map((v) => v.strides.slice(0, keptRank)), out.strides.slice(0, keptRank)]);
  if (red.shape.length !== 1 || kept.shape.length > 1) return null;
  const len = red.shape[0]!, rows = kept.shape[0] ?? 1;
  if (len === 0 || len % 4 !== 0 || red.strides.some((s) => s[0] !== 0 && s[0] !== 1)) return null;
  const rowBroadcast = red.strides.map((s) => s[0] === 0);
  const key = `${kind}|${exprKey(expr)}|${inputs.length}|${rowBroadcast.map(Number).join('')}`;
  let kernel = cache.get(key);
  if (kernel === undefined) {
    kernel = supported(expr) ? compile(kind, expr, inputs.length, paramCount(expr), rowBroadcast) : null;
    cache.set(key, kernel);
  }
  if (!kernel) return null;
  const k = kernel;
  const rowStride = (s: readonly number[] | undefined) => (s?.[0] ?? 0) * 4;
  const args = [...inputs.map(byteAddress), byteAddress(out), len, rows, ...kept.strides.slice(0, inputs.length).map(rowStride), rowStride(kept.strides[inputs.length])];
  return (params) => k(...args, ...params);
}

/**
 * Signature: in pointers, out pointer, columns, rows, in row strides (bytes), params (f32).
 * Inputs broadcast along the columns are splat per row. out[c] = reduce over rows of expr.
 */
function compileColumns(kind: SimdKind, expr: Expr, nIn: number, nParams: number, columnBroadcast: readonly boolean[]): Kernel {
  const inPtr = (k: number) => k, outPtr = nIn, cols = nIn + 1, rows = nIn + 2;
  const inStride = (k: number) => nIn + 3 + k, param = (p: number) => 2 * nIn + 3 + p;
  const nArgs = 2 * nIn + 3 + nParams;
  // locals: r, j (column byte offset), endBytes, rowBase[nIn], paramVec[nParams], splat[nIn], acc, temps...
  const r = nArgs, j = nArgs + 1, endBytes = nArgs + 2;
  const rowBase = (k: number) => nArgs + 3 + k, paramVec = (p: number) => nArgs + 3 + nIn + p;
  const splat = (k: number) => nArgs + 3 + nIn + nParams + k, acc = nArgs + 3 + 2 * nIn + nParams;
  const emitter = new BodyEmitter(acc + 1,
    (k) => (columnBroadcast[k] ? op.localGet(splat(k)) : [...op.localGet(rowBase(k)), ...op.localGet(j), ...op.i32Add, ...op.simd(V.load, 0, 0)]),
    paramVec);
  const value = emitter.local(expr);
  const body: number[] = [
    ...op.localGet(cols), ...op.i32Const(2), ...op.i32Shl, ...op.localSet(endBytes),
    ...Array.from({ length: nParams }, (_, p) => [...op.localGet(param(p)), ...op.simd(F.splat), ...op.localSet(paramVec(p))]).flat(),
    ...op.block, ...op.loop,
    ...op.localGet(j), ...op.localGet(endBytes), ...op.i32GeU, ...op.brIf(1),
    ...op.f32Const(INIT[kind]), ...op.simd(F.splat), ...op.localSet(acc),
    ...op.i32Const(0), ...op.localSet(r),
    ...op.block, ...op.loop,
    ...op.localGet(r), ...op.localGet(rows), ...op.i32GeU, ...op.brIf(1),
    ...Array.from({ length: nIn }, (_, k) => [...op.localGet(inPtr(k)), ...op.localGet(r), ...op.localGet(inStride(k)), ...op.i32Mul, ...op.i32Add, ...op.localSet(rowBase(k))]).flat(),
    ...Array.from({ length: nIn }, (_, k) => (columnBroadcast[k] ? [...op.localGet(rowBase(k)), ...op.simd(V.loadSplat, 2, 0), ...op.localSet(splat(k))] : [])).flat(),
    ...emitter.code,
    ...op.localGet(acc), ...op.localGet(value), ...op.simd(VECTOR[kind]), ...op.localSet(acc),
    ...op.localGet(r), ...op.i32Const(1), ...op.i32Add, ...op.localSet(r),
    ...op.br(0), ...op.end, ...op.end,
    ...op.localGet(outPtr), ...op.localGet(j), ...op.i32Add, ...op.localGet(acc), ...op.simd(V.store, 0, 0),
    ...op.localGet(j), ...op.i32Const(16), ...op.i32Add, ...op.localSet(j),
    ...op.br(0), ...op.end, ...op.end,
  ];
  const params = [...new Array<number>(2 * nIn + 3).fill(I32), ...new Array<number>(nParams).fill(F32)];
  const locals = [I32, I32, I32, ...new Array<number>(nIn).fill(I32), ...new Array<number>(nParams + nIn + 1).fill(V128), ...emitter.temps];
  const module = new WebAssembly.Module(kernelModule(params, locals, body));
  return new WebAssembly.Instance(module, { e: { m: heap.memory } }).exports['k'] as Kernel;
}

/**
 * The SIMD kernel for a float32 sum, max or min over the leading axes, or null: the kept axes
 * collapse to one of whole vectors, contiguous or broadcast in every input and contiguous in
 * the output; the reduced ones to one row index of any stride.
 */
export function planWasmColumnReduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View): ((params: readonly number[]) => void) | null {
  if ((kind !== 'sum' && kind !== 'max' && kind !== 'min') || expr.dtype !== 'float32' || inputs.length === 0) return null;
  const full = inputs[0]!.shape, rank = full.length, n = axes.length;
  if (n === 0 || n === rank || axes.some((a, i) => a !== i)) return null;
  if (inputs.some((v) => (v.storage as CpuStorage).dtype !== 'float32' && (v.storage as CpuStorage).dtype !== 'int32')) return null;
  const red = collapseDims(full.slice(0, n), inputs.map((v) => v.strides.slice(0, n)));
  const kept = collapseDims(full.slice(n), [...inputs.map((v) => v.strides.slice(n)), out.strides.slice(n)]);
  if (red.shape.length > 1 || kept.shape.length !== 1) return null;
  const cols = kept.shape[0]!, rows = red.shape[0] ?? 1;
  if (cols % 4 !== 0 || kept.strides[inputs.length]![0] !== 1 || kept.strides.slice(0, inputs.length).some((s) => s[0] !== 0 && s[0] !== 1)) return null;
  const columnBroadcast = kept.strides.slice(0, inputs.length).map((s) => s[0] === 0);
  const key = `columns|${kind}|${exprKey(expr)}|${inputs.length}|${columnBroadcast.map(Number).join('')}`;
  let kernel = cache.get(key);
  if (kernel === undefined) {
    kernel = supported(expr) ? compileColumns(kind, expr, inputs.length, paramCount(expr), columnBroadcast) : null;
    cache.set(key, kernel);
  }
  if (!kernel) return null;
  const k = kernel;
  const args = [...inputs.map(byteAddress), byteAddress(out), cols, rows, ...red.strides.map((s) => (s[0] ?? 0) * 4)];
  return (params) => k(...args, ...params);
}
