// Reductions on the CPU: kept dimensions in outer loops, reduced ones inside with a local
// double-precision accumulator; the expression is fused into the inner loop.
import type { Expr } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import { collapseDims, contiguousStrides } from '../../core/shape.js';
import type { ReduceKind, View } from '../backend.js';
import { ExprEmitter, compileKernel, loopNest, paramDeclarations } from './codegen.js';
import { CpuStorage, dataOf } from './storage.js';
import { type BlasLibrary, NO_TRANS, useThreadsFor } from './blas.js';

type Kernel = (ins: unknown[], inOff: number[], keptStr: number[][], redStr: number[][], out: unknown, outOff: number, outStr: number[], keptShape: number[], redShape: number[], params: readonly number[]) => void;

const cache = new Map<string, Kernel>();

const INIT: Record<ReduceKind, string> = {
  sum: '0', prod: '1', max: '-Infinity', min: 'Infinity', argmax: '-Infinity', argmin: 'Infinity',
};

function accumulate(kind: ReduceKind, v: string): string[] {
  switch (kind) {
    case 'sum': return [`acc += ${v};`];
    case 'prod': return [`acc *= ${v};`];
    case 'max': return [`if (${v} > acc || ${v} !== ${v}) acc = ${v};`];
    case 'min': return [`if (${v} < acc || ${v} !== ${v}) acc = ${v};`];
    // the first extreme wins; a NaN counts as the extreme, as in PyTorch
    case 'argmax': return [`if (acc === acc && (${v} > acc || ${v} !== ${v})) { acc = ${v}; best = j; }`, 'j++;'];
    case 'argmin': return [`if (acc === acc && (${v} < acc || ${v} !== ${v})) { acc = ${v}; best = j; }`, 'j++;'];
  }
}

function compile(kind: ReduceKind, expr: Expr, nIn: number, keptRank: number, redRank: number): Kernel {
  const kept = Array.from({ length: keptRank }, (_, d) => `k${d}`);
  const red = Array.from({ length: redRank }, (_, d) => `r${d}`);
  const isArg = kind === 'argmax' || kind === 'argmin';
  let emitter!: ExprEmitter;
  const outer = loopNest(kept, [
    ...Array.from({ length: nIn }, (_, k) => ({ name: `a${k}`, base: `inOff[${k}]`, strides: kept.map((_, d) => `ka${k}_${d}`) })),
    { name: 'o', base: 'outOff', strides: kept.map((_, d) => `ko_${d}`) },
  ], (outerAt) => {
    const inner = loopNest(red, Array.from({ length: nIn }, (_, k) => ({
      name: `c${k}`, base: outerAt.get(`a${k}`)!, strides: red.map((_, d) => `ra${k}_${d}`),
    })), (innerAt) => {
      emitter = new ExprEmitter((i) => `in${i}[${innerAt.get(`c${i}`)}]`);
      const v = emitter.emit(expr);
      return [...emitter.lines, ...accumulate(kind, v)];
    }, 'j');
    return [
      `let acc = ${INIT[kind]};`, ...(isArg ? ['let best = 0, j = 0;'] : []),
      ...inner,
      `out[${outerAt.get('o')}] = ${isArg ? 'best' : 'acc'};`,
    ];
  }, 'i');
  const src = [
    ...Array.from({ length: nIn }, (_, k) => `const in${k} = ins[${k}];`),
    ...kept.map((n, d) => `const ${n} = keptShape[${d}];`),
    ...red.map((n, d) => `const ${n} = redShape[${d}];`),
    ...Array.from({ length: nIn }, (_, k) => kept.map((_, d) => `const ka${k}_${d} = keptStr[${k}][${d}];`).join(' ')),
    ...Array.from({ length: nIn }, (_, k) => red.map((_, d) => `const ra${k}_${d} = redStr[${k}][${d}];`).join(' ')),
    ...kept.map((_, d) => `const ko_${d} = outStr[${d}];`),
    ...paramDeclarations(emitter),
    ...outer,
  ].join('\n');
  return compileKernel<Kernel>('reduceKernel', 'ins, inOff, keptStr, redStr, out, outOff, outStr, keptShape, redShape, params', src);
}

/** The JavaScript reduction kernel for these views, resolved once, taking the params at each run. */
export function planReduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View): (params: readonly number[]) => void {
  const full = inputs[0]?.shape ?? out.shape;
  const keptAxes = full.map((_, d) => d).filter((d) => !axes.includes(d));
  const pick = (list: readonly number[], which: number[]) => which.map((d) => list[d]!);
  const keptCollapsed = collapseDims(pick(full, keptAxes), [...inputs.map((v) => pick(v.strides, keptAxes)), pick(out.strides, keptAxes)]);
  const redCollapsed = collapseDims(pick(full, [...axes]), inputs.map((v) => pick(v.strides, [...axes])));
  if (keptCollapsed.shape.some((d) => d === 0)) return () => {};
  const key = `${kind}|${exprKey(expr)}|${inputs.length}|${keptCollapsed.shape.length}|${redCollapsed.shape.length}`;
  let kernel = cache.get(key);
  if (!kernel) {
    kernel = compile(kind, expr, inputs.length, keptCollapsed.shape.length, redCollapsed.shape.length);
    cache.set(key, kernel);
  }
  const k = kernel;
  const inOff = inputs.map((v) => v.offset);
  const keptStr = keptCollapsed.strides.slice(0, inputs.length);
  const redStr = redCollapsed.strides.length ? redCollapsed.strides : inputs.map(() => []);
  const outStr = keptCollapsed.strides[inputs.length]!;
  return (params) => k(inputs.map(dataOf), inOff, keptStr, redStr, dataOf(out), out.offset, outStr, keptCollapsed.shape, redCollapsed.shape, params);
}

let onesStorage: CpuStorage | null = null;

/**
 * Sum over the leading axes of a row-major float32 tensor (bias gradients): a product with a
 * ones vector, which BLAS runs at memory speed. Null when the case does not apply.
 */
export function planColumnSum(expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, lib: BlasLibrary): (() => void) | null {
  if (expr.kind !== 'input' || expr.dtype !== 'float32' || inputs.length !== 1) return null;
  const x = inputs[0]!;
  const rank = x.shape.length;
  if (axes.length === 0 || axes.some((a, i) => a !== i) || axes.length === rank) return null;
  const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const cols = x.shape.slice(axes.length).reduce((a, b) => a * b, 1);
  const strides = contiguousStrides(x.shape);
  if (rows < 64 || x.strides.some((s, i) => x.shape[i] !== 1 && s !== strides[i])) return null;
  return () => {
    if (onesStorage === null || onesStorage.size < rows) {
      onesStorage?.free();
      onesStorage = new CpuStorage('float32', Math.max(rows, 1024));
      onesStorage.data.fill(1);
    }
    const ones = onesStorage.data as Float32Array;
    const X = dataOf(x) as Float32Array, O = dataOf(out) as Float32Array;
    useThreadsFor(lib, 1, cols, rows);
    lib.sgemm(NO_TRANS, NO_TRANS, 1, cols, rows, 1, ones, rows, X.subarray(x.offset), cols, 0, O.subarray(out.offset), cols);
  };
}
