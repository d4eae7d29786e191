// Fused elementwise kernels on the CPU: JavaScript generated from the expression IR, cached.
import { env } from '../../core/platform.js';
import type { Expr } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import { collapseDims } from '../../core/shape.js';
import type { View } from '../backend.js';
import { ExprEmitter, compileKernel, loopNest, paramDeclarations } from './codegen.js';
import { dataOf } from './storage.js';
import { planWasmElementwise } from './wasm-elementwise.js';

type Kernel = (ins: unknown[], inOff: number[], inStr: number[][], outs: unknown[], outOff: number[], outStr: number[][], shape: number[], params: readonly number[]) => void;

const cache = new Map<string, Kernel>();
/** TESSERA_CPU_SIMD=0 runs every kernel as JavaScript, without WebAssembly (for comparison). */
export const SIMD = env('TESSERA_CPU_SIMD') !== '0' && typeof WebAssembly === 'object';

function compile(exprs: readonly Expr[], nIn: number, nOut: number, rank: number): Kernel {
  const dims = Array.from({ length: rank }, (_, d) => `n${d}`);
  const pointers = [
    ...Array.from({ length: nIn }, (_, k) => ({ name: `a${k}`, base: `inOff[${k}]`, strides: dims.map((_, d) => `sa${k}_${d}`) })),
    ...Array.from({ length: nOut }, (_, k) => ({ name: `b${k}`, base: `outOff[${k}]`, strides: dims.map((_, d) => `sb${k}_${d}`) })),
  ];
  let emitter!: ExprEmitter;
  const loops = loopNest(dims, pointers, (at) => {
    emitter = new ExprEmitter((i) => `in${i}[${at.get(`a${i}`)}]`);
    const results = exprs.map((e) => emitter.emit(e));
    return [...emitter.lines, ...results.map((r, k) => `out${k}[${at.get(`b${k}`)}] = ${r};`)];
  });
  const src = [
    ...Array.from({ length: nIn }, (_, k) => `const in${k} = ins[${k}];`),
    ...Array.from({ length: nOut }, (_, k) => `const out${k} = outs[${k}];`),
    ...dims.map((n, d) => `const ${n} = shape[${d}];`),
    ...Array.from({ length: nIn }, (_, k) => dims.map((_, d) => `const sa${k}_${d} = inStr[${k}][${d}];`).join(' ')),
    ...Array.from({ length: nOut }, (_, k) => dims.map((_, d) => `const sb${k}_${d} = outStr[${k}][${d}];`).join(' ')),
    ...paramDeclarations(emitter),
    ...loops,
  ].join('\n');
  return compileKernel<Kernel>('elementwiseKernel', 'ins, inOff, inStr, outs, outOff, outStr, shape, params', src);
}

/**
 * A copy between dense views of storages of one dtype (what a compiled step does with its
 * arguments and results each replay): the typed array's own copy, with nothing to plan.
 */
function denseCopy(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], dims: readonly number[], strides: readonly (readonly number[])[]): (() => void) | null {
  const e = exprs[0]!;
  if (exprs.length !== 1 || inputs.length !== 1 || e.kind !== 'input' || e.index !== 0 || dims.length > 1 || strides.some((s) => (s[0] ?? 1) !== 1)) return null;
  const from = inputs[0]!, to = outs[0]!;
  if (from.storage.dtype !== e.dtype || to.storage.dtype !== e.dtype) return null;
  const n = dims[0] ?? 1;
  // the arrays are looked up at each run: a grown heap gives its storages new ones
  return () => dataOf(to).set(dataOf(from).subarray(from.offset, from.offset + n), to.offset);
}

/** The kernel for these views, resolved once (SIMD where it applies), taking the params at each run. */
export function planElementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[]): (params: readonly number[]) => void {
  const shape = outs[0]!.shape;
  if (shape.some((d) => d === 0)) return () => {};
  const { shape: dims, strides } = collapseDims(shape, [...inputs.map((v) => v.strides), ...outs.map((v) => v.strides)]);
  const dense = denseCopy(exprs, inputs, outs, dims, strides);
  if (dense) return dense;
  const simd = SIMD ? planWasmElementwise(exprs, inputs, outs, dims, strides) : null;
  if (simd) return simd;
  const key = `${exprs.map(exprKey).join(';')}|${inputs.length}|${outs.length}|${dims.length}`;
  let kernel = cache.get(key);
  if (!kernel) {
    kernel = compile(exprs, inputs.length, outs.length, dims.length);
    cache.set(key, kernel);
  }
  const k = kernel;
  const inOff = inputs.map((v) => v.offset), outOff = outs.map((v) => v.offset);
  const inStr = strides.slice(0, inputs.length), outStr = strides.slice(inputs.length);
  return (params) => k(inputs.map(dataOf), inOff, inStr, outs.map(dataOf), outOff, outStr, dims, params);
}
