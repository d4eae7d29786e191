// SIMD elementwise kernels: the expression IR compiled to WebAssembly (4 lanes of f32/i32),
// for the layouts that dominate training (dense, or rows with broadcast operands). Other
// expressions and layouts run as generated JavaScript.
import type { Expr } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import type { View } from '../backend.js';
import { heap } from './heap.js';
import { type CpuStorage, byteAddress } from './storage.js';
import { F32, I32, V128, kernelModule, op } from './wasm-encoder.js';
import { BodyEmitter, F, V, paramCount, supported } from './wasm-expr.js';
import { contiguousStrides } from '../../core/shape.js';

type Kernel = (...args: number[]) => void;

/**
 * Signature: in pointers, out pointers, inner length, outer count, in row strides (bytes),
 * out row strides (bytes), params (f32). Inputs whose inner stride is 0 are splat per row.
 */
function compile(exprs: readonly Expr[], nIn: number, nOut: number, nParams: number, innerBroadcast: readonly boolean[]): Kernel {
  const inPtr = (k: number) => k, outPtr = (j: number) => nIn + j;
  const inner = nIn + nOut, outer = inner + 1;
  const inStride = (k: number) => outer + 1 + k, outStride = (j: number) => outer + 1 + nIn + j;
  const param = (p: number) => outer + 1 + nIn + nOut + p;
  const nArgs = outer + 1 + nIn + nOut + nParams;
  // locals: r, i, endBytes, inCur[nIn], outCur[nOut], paramVec[nParams], splat[nIn], temps...
  const r = nArgs, i = nArgs + 1, endBytes = nArgs + 2;
  const inCur = (k: number) => nArgs + 3 + k, outCur = (j: number) => nArgs + 3 + nIn + j;
  const paramVec = (p: number) => nArgs + 3 + nIn + nOut + p;
  const splat = (k: number) => nArgs + 3 + nIn + nOut + nParams + k;
  const firstTemp = nArgs + 3 + nIn + nOut + nParams + nIn;

  const emitter = new BodyEmitter(firstTemp,
    (k) => (innerBroadcast[k] ? op.localGet(splat(k)) : [...op.localGet(inCur(k)), ...op.localGet(i), ...op.i32Add, ...op.simd(V.load, 0, 0)]),
    paramVec);
  const results = exprs.map((e) => emitter.local(e));

  const body: number[] = [
    ...op.localGet(inner), ...op.i32Const(2), ...op.i32Shl, ...op.localSet(endBytes),
    ...Array.from({ length: nParams }, (_, p) => [...op.localGet(param(p)), ...op.simd(F.splat), ...op.localSet(paramVec(p))]).flat(),
    ...op.block, ...op.loop,
    ...op.localGet(r), ...op.localGet(outer), ...op.i32GeU, ...op.brIf(1),
    ...Array.from({ length: nIn }, (_, k) => [...op.localGet(inPtr(k)), ...op.localGet(r), ...op.localGet(inStride(k)), ...op.i32Mul, ...op.i32Add, ...op.localSet(inCur(k))]).flat(),
    ...Array.from({ length: nOut }, (_, j) => [...op.localGet(outPtr(j)), ...op.localGet(r), ...op.localGet(outStride(j)), ...op.i32Mul, ...op.i32Add, ...op.localSet(outCur(j))]).flat(),
    ...Array.from({ length: nIn }, (_, k) => (innerBroadcast[k] ? [...op.localGet(inCur(k)), ...op.simd(V.loadSplat, 2, 0), ...op.localSet(splat(k))] : [])).flat(),
    ...op.i32Const(0), ...op.localSet(i),
    ...op.block, ...op.loop,
    ...op.localGet(i), ...op.localGet(endBytes), ...op.i32GeU, ...op.brIf(1),
    ...emitter.code,
    ...results.map((local, j) => [...op.localGet(outCur(j)), ...op.localGet(i), ...op.i32Add, ...op.localGet(local), ...op.simd(V.store, 0, 0)]).flat(),
    ...op.localGet(i), ...op.i32Const(16), ...op.i32Add, ...op.localSet(i),
    ...op.br(0), ...op.end, ...op.end,
    ...op.localGet(r), ...op.i32Const(1), ...op.i32Add, ...op.localSet(r),
    ...op.br(0), ...op.end, ...op.end,
  ];
  const params = [...new Array<number>(outer + 1 + nIn + nOut).fill(I32), ...new Array<number>(nParams).fill(F32)];
  const locals = [I32, I32, I32, ...new Array<number>(nIn + nOut).fill(I32), ...new Array<number>(nParams + nIn).fill(V128), ...emitter.temps];
  const module = new WebAssembly.Module(kernelModule(params, locals, body));
  const instance = new WebAssembly.Instance(module, { e: { m: heap.memory } });
  return instance.exports['k'] as Kernel;
}

const cache = new Map<string, Kernel | null>();

/**
 * The SIMD kernel for these views, resolved once, if the expression and the (collapsed) layout
 * allow it; null lets the JavaScript kernel take it. Layouts: the innermost dimension
 * contiguous or broadcast in every input; outputs dense, or rows of whole vectors. The
 * dimensions outside the last two run as one kernel call per index, with the pointers moved
 * along (when there are few enough of them for the calls not to cost more than the work).
 */
export function planWasmElementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], dims: readonly number[], strides: readonly (readonly number[])[]): ((params: readonly number[]) => void) | null {
  const rank = dims.length;
  const innerLen = dims[rank - 1] ?? 1, rowLen = rank >= 2 ? dims[rank - 2]! : 1;
  // the dimensions outside the last two: one kernel call per index (a few per permuted head layout)
  const outer = dims.slice(0, Math.max(0, rank - 2)), slabs = outer.reduce((a, b) => a * b, 1);
  if (slabs > 1 && slabs * 16 > innerLen * rowLen * 64) return null;
  const total = innerLen * rowLen * slabs;
  const contiguous = contiguousStrides(dims);
  for (let j = 0; j < outs.length; j++) {
    const o = outs[j]!, s = strides[inputs.length + j]!;
    const st = o.storage as CpuStorage;
    if (st.dtype === 'bool' || (rank >= 1 && s[rank - 1] !== 1)) return null;
    // dense row-major (stride of each dimension the product of the ones inside it), or rows of
    // a larger tensor (a gate of a recurrent step) whose length is whole vectors, so no store
    // spills past a row into data that is not ours
    const dense = o.offset === 0 && st.size === total && s.every((v, d) => dims[d] === 1 || v === contiguous[d]);
    if (!dense && innerLen % 4 !== 0) return null;
  }
  const innerBroadcast: boolean[] = [];
  for (let k = 0; k < inputs.length; k++) {
    const s = strides[k]!;
    const innerStride = rank ? s[rank - 1]! : 0;
    if (innerStride !== 0 && innerStride !== 1) return null;
    if ((inputs[k]!.storage as CpuStorage).dtype === 'bool') return null;
    innerBroadcast.push(innerStride === 0);
  }
  // a partial last vector of a row spills into the next row: not allowed when writing in place
  if (total > innerLen && innerLen % 4 !== 0 && outs.some((o) => inputs.some((x) => x.storage === o.storage))) return null;

  const key = `${exprs.map(exprKey).join(';')}|${inputs.length}|${outs.length}|${innerBroadcast.map(Number).join('')}`;
  let kernel = cache.get(key);
  if (kernel === undefined) {
    kernel = exprs.every(supported) ? compile(exprs, inputs.length, outs.length, Math.max(0, ...exprs.map(paramCount)), innerBroadcast) : null;
    cache.set(key, kernel);
  }
  if (!kernel) return null;
  const k = kernel;
  const inBase = inputs.map(byteAddress);
  const outBase = outs.map(byteAddress);
  const rowStride = (i: number) => (rank >= 2 ? strides[i]![rank - 2]! * 4 : 0);
  const tail = [innerLen, rowLen, ...inputs.map((_, i) => rowStride(i)), ...outs.map((_, j) => rowStride(inputs.length + j))];
  // byte addresses stay valid when the heap grows: only its buffer object changes
  const perSlab = Array.from({ length: slabs }, (_, slab) => {
    const shift = (i: number) => {
      let bytes = 0;
      for (let d = outer.length - 1, rest = slab; d >= 0; d--) { bytes += (rest % outer[d]!) * strides[i]![d]! * 4; rest = Math.floor(rest / outer[d]!); }
      return bytes;
    };
    return [...inBase.map((b, i) => b + shift(i)), ...outBase.map((b, j) => b + shift(inputs.length + j)), ...tail];
  });
  if (slabs === 1) {
    const args = perSlab[0]!;
    return (params) => k(...args, ...params);
  }
  return (params) => { for (const args of perSlab) k(...args, ...params); };
}
