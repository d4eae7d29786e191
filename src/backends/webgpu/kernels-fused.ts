// Expression kernels in WGSL: elementwise (one invocation per output element) and reductions
// (one workgroup per output element, a strided loop then a shared-memory tree).
import type { Expr } from '../../core/expr.js';
import { float32Bits } from '../../core/dtype.js';
import { exprKey, input } from '../../core/expr.js';
import { collapseDims } from '../../core/shape.js';
import { partialStrides, planReduce, secondPass } from '../reduce-plan.js';
import type { ReduceKind, View } from '../backend.js';
import { GpuRuntime } from './runtime.js';
import { GpuStorage, Slots, dtypeOf } from './storage.js';
import { STORAGE_TYPE, WGSL_HELPERS, WGSL_TYPE, WgslEmitter, fromStorage, toStorage } from './wgsl-expr.js';

const WG = 64;
/** Invocation index from a possibly 2-D grid of 64-wide groups. */
const LINEAR_ID = 'let i = i32(gid.x + gid.y * 4194240u);';


class Meta {
  readonly values: number[] = [];
  push(...v: number[]): number {
    const at = this.values.length;
    this.values.push(...v);
    return at;
  }
  get array(): Int32Array { return Int32Array.from(this.values); }
}

/** WGSL that turns linear index `idx` into per-view offsets for the given dims (unrolled). */
function offsets(idx: string, rank: number, dimsAt: number, views: { name: string; at: number }[], tag: string): string[] {
  const lines = [`var ${tag}r = ${idx};`];
  for (const v of views) lines.push(`var ${v.name} = md[${v.at}];`);
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`let ${tag}c${d} = ${tag}r % md[${dimsAt + d}]; ${tag}r = ${tag}r / md[${dimsAt + d}];`);
    for (const v of views) lines.push(`${v.name} += ${tag}c${d} * md[${v.at + 1 + d}];`);
  }
  return lines;
}

export function elementwise(rt: GpuRuntime, exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], params: readonly number[] = []): void {
  const n = outs[0]!.shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const { shape: dims, strides } = collapseDims(outs[0]!.shape, [...inputs.map((v) => v.strides), ...outs.map((v) => v.strides)]);
  const rank = dims.length;
  const slots = new Slots();
  const inSlot = inputs.map((v) => slots.slot(v)), outSlot = outs.map((v) => slots.slot(v));
  const meta = new Meta();
  meta.push(n);
  const dimsAt = meta.push(...dims);
  const viewAt = [...inputs, ...outs].map((v, k) => meta.push(v.offset, ...strides[k]!));
  const paramAt = meta.push(...params.map(float32Bits));
  const key = `ew|${exprs.map(exprKey).join(';')}|${rank}|${inSlot}|${outSlot}|${slots.key()}|${inputs.map(dtypeOf)}`;
  const kernel = rt.kernel(key, () => {
    const em = new WgslEmitter((k) => `x${k}`, (p) => `bitcast<f32>(md[${paramAt + p}])`);
    const results = exprs.map((e) => em.emit(e));
    return [
      slots.declarations((d) => STORAGE_TYPE[d]), WGSL_HELPERS,
      `@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {`,
      LINEAR_ID, 'if (i >= md[0]) { return; }',
      ...offsets('i', rank, dimsAt, [...inputs, ...outs].map((_, k) => ({ name: `o${k}`, at: viewAt[k]! })), 'e'),
      // every input is loaded before any store, so in-place updates read old values
      ...inputs.map((v, k) => `let x${k}: ${WGSL_TYPE[dtypeOf(v)]} = ${fromStorage(dtypeOf(v), `b${inSlot[k]}[o${k}]`)};`),
      ...em.lines,
      ...outs.map((v, j) => `b${outSlot[j]}[o${inputs.length + j}] = ${toStorage(dtypeOf(v), `${WGSL_TYPE[dtypeOf(v)]}(${results[j]})`)};`),
      '}',
    ].join('\n');
  }, `elementwise ${exprs.map(exprKey).join(';').slice(0, 80)}`);
  rt.dispatch(kernel, meta.array, slots.buffers, GpuRuntime.grid(n, WG));
}

const COMBINE: Record<ReduceKind, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  prod: (a, b) => `${a} * ${b}`,
  max: (a, b) => `max_(${a}, ${b})`,
  min: (a, b) => `min_(${a}, ${b})`,
  argmax: () => '',
  argmin: () => '',
};

function identity(kind: ReduceKind, type: string): string {
  if (kind === 'sum') return type === 'i32' ? '0i' : '0.0f';
  if (kind === 'prod') return type === 'i32' ? '1i' : '1.0f';
  const low = kind === 'max' || kind === 'argmax';
  return type === 'i32' ? (low ? '-2147483647i' : '2147483647i') : (low ? 'ninf_()' : 'inf_()');
}

export function reduce(rt: GpuRuntime, kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, params: readonly number[] = []): void {
  const plan = planReduce(kind, inputs, axes, out, { minTerms: 32768, termsPerPart: 8192 });
  const { kept, red, nOut, nRed, parts, chunk } = plan;
  if (kept.shape.some((d) => d === 0)) return;
  const arg = kind === 'argmax' || kind === 'argmin';
  const outDtype = dtypeOf(out);
  const partial = parts > 1 ? new GpuStorage(outDtype, nOut * parts, rt.createBuffer(nOut * parts * 4)) : null;
  const target: View = partial ? { storage: partial, shape: out.shape, strides: out.strides, offset: 0 } : out;
  const targetKeptStrides = partial ? partialStrides(plan) : kept.strides[inputs.length]!;
  const slots = new Slots();
  const inSlot = inputs.map((v) => slots.slot(v)), outSlot = slots.slot(target);
  const meta = new Meta();
  meta.push(nOut, nRed, parts, chunk);
  const keptDimsAt = meta.push(...kept.shape), redDimsAt = meta.push(...red.shape);
  const inKeptAt = inputs.map((v, k) => meta.push(v.offset, ...kept.strides[k]!));
  const inRedAt = inputs.map((_, k) => meta.push(0, ...(red.strides[k] ?? [])));
  const outAt = meta.push(target.offset, ...targetKeptStrides);
  const paramAt = meta.push(...params.map(float32Bits));
  const accType = WGSL_TYPE[expr.dtype === 'bool' ? 'int32' : expr.dtype];
  const key = `red|${kind}|${exprKey(expr)}|${kept.shape.length}|${red.shape.length}|${inSlot}|${outSlot}|${slots.key()}`;
  const better = (v: string, vi: string, a: string, ai: string) => kind === 'argmax'
    ? `(!is_nan_(${a}) && (${v} > ${a} || is_nan_(${v}) || (${v} == ${a} && ${vi} < ${ai})))`
    : `(!is_nan_(${a}) && (${v} < ${a} || is_nan_(${v}) || (${v} == ${a} && ${vi} < ${ai})))`;
  const kernel = rt.kernel(key, () => {
    const em = new WgslEmitter((k) => `x${k}`, (p) => `bitcast<f32>(md[${paramAt + p}])`);
    const value = em.emit(expr);
    const loads = inputs.map((v, k) => `let x${k}: ${WGSL_TYPE[dtypeOf(v)]} = ${fromStorage(dtypeOf(v), `b${inSlot[k]}[k${k} + q${k}]`)};`);
    const accumulate = arg
      ? [`let vv = f32(${value});`, `if (best < 0 || ${better('vv', 'r', 'acc', 'best')}) { acc = vv; best = r; }`]
      : [`part = ${COMBINE[kind]('part', `${accType}(${value})`)};`];
    const tree = arg
      ? [`if (sbest[l + s] >= 0 && (sbest[l] < 0 || ${better('sval[l + s]', 'sbest[l + s]', 'sval[l]', 'sbest[l]')})) { sval[l] = sval[l + s]; sbest[l] = sbest[l + s]; }`]
      : [`sval[l] = ${COMBINE[kind]('sval[l]', 'sval[l + s]')};`];
    return [
      slots.declarations((d) => STORAGE_TYPE[d]), WGSL_HELPERS,
      `var<workgroup> sval: array<${arg ? 'f32' : accType}, ${WG}>;`,
      `var<workgroup> sbest: array<i32, ${WG}>;`,
      `@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {`,
      'let w = i32(wid.x + wid.y * 65535u);',
      'let o = w / md[2]; let chunkOf = w % md[2];',
      'let lo = chunkOf * md[3]; let hi = min(md[1], lo + md[3]);',
      'let l = i32(lid.x);',
      ...offsets('o', kept.shape.length, keptDimsAt, [...inputs.map((_, k) => ({ name: `k${k}`, at: inKeptAt[k]! })), { name: 'ko', at: outAt }], 'p'),
      `var acc: ${arg ? 'f32' : accType} = ${arg ? identity(kind, 'f32') : identity(kind, accType)};`,
      'var best = -1i;',
      // blocked: each invocation folds ${WG} terms into a partial before adding it to its total,
      // which keeps float sums accurate however the compiler reorders arithmetic
      `for (var blk = lo + l; blk < hi; blk += ${WG * WG}) {`,
      `var part: ${arg ? 'f32' : accType} = ${arg ? '0.0f' : identity(kind, accType)};`,
      `for (var r = blk; r < min(hi, blk + ${WG * WG}); r += ${WG}) {`,
      ...offsets('r', red.shape.length, redDimsAt, inputs.map((_, k) => ({ name: `q${k}`, at: inRedAt[k]! })), 'z'),
      ...loads, ...em.lines, ...accumulate,
      '}',
      ...(arg ? [] : [`acc = ${COMBINE[kind]('acc', 'part')};`]),
      '}',
      'sval[l] = acc; sbest[l] = best;',
      'workgroupBarrier();',
      `for (var s = ${WG / 2}; s > 0; s = s / 2) {`,
      'if (l < s) {', ...tree, '}',
      'workgroupBarrier();',
      '}',
      `if (l == 0 && o < md[0]) { b${outSlot}[ko + chunkOf] = ${toStorage(outDtype, arg ? 'max(sbest[0], 0)' : `${WGSL_TYPE[outDtype]}(sval[0])`)}; }`,
      '}',
    ].join('\n');
  }, `reduce ${kind} ${exprKey(expr).slice(0, 80)}`);
  rt.dispatch(kernel, meta.array, slots.buffers, GpuRuntime.grid(nOut * parts, 1));
  if (!partial) return;
  const second = secondPass(plan, partial, out);
  reduce(rt, kind, input(0, outDtype), [second.input], second.axes, second.out);
  rt.releaseBuffer(partial.buffer);
}
