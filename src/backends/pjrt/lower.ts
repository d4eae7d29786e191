// Lowers a sequence of backend primitive calls to one StableHLO module: storages read become
// arguments, storages written become results, and each call's scalars (an optimizer's step
// size, a random draw's counter) are read from two small argument vectors, so one compiled
// executable serves every step whatever those scalars are.
import { splitSeed } from '../../core/philox.js';
import type { PrimitiveCall, Storage, View } from '../backend.js';
import { HloBuilder, type Value } from './hlo-builder.js';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from './hlo-conv.js';
import { ExprLowering } from './hlo-expr.js';
import { random } from './hlo-random.js';
import { StorageValues, elemType } from './hlo-views.js';
import { col2im, im2col, pool2d, pool2dBackward } from './hlo-window.js';

/** The calls a module holds: every primitive. */
export type LowerableCall = PrimitiveCall;

export interface LoweredModule {
  readonly text: string;
  /** storages passed as arguments after the scalar vectors, in order */
  readonly inputs: readonly Storage[];
  /** storages the results replace, in order */
  readonly outputs: readonly Storage[];
  /** fills the float32 scalars and the uint32 random words from the calls' current arguments */
  scalars(): { floats: Float32Array | null; words: Uint32Array | null };
}

/** Storages the backend provides for calls that need one beyond their own arguments. */
export interface LoweringHooks {
  /** where an index check writes its [first bad position, its value] pair */
  checkFlag(call: Extract<PrimitiveCall, { prim: 'checkIndices' }>): Storage;
  /** a storage already holding a host upload's data (a captured step's constant) */
  uploaded(call: Extract<PrimitiveCall, { prim: 'write' }>): Storage;
}

/** `scratch`: storages whose final values nobody reads (left out of the results). */
export function lower(calls: readonly LowerableCall[], hooks: LoweringHooks, scratch: ReadonlySet<Storage> = new Set()): LoweredModule {
  const b = new HloBuilder();
  let floatCount = 0, randomCount = 0;
  for (const c of calls) {
    if (c.prim === 'elementwise' || c.prim === 'reduce') floatCount += paramsOf(c)?.length ?? 0;
    if (c.prim === 'random') randomCount++;
  }
  const floats = floatCount ? b.argument([floatCount], 'f32') : null;
  const words = randomCount ? b.argument([4 * randomCount], 'ui32') : null;
  const vals = new StorageValues(b);
  let floatAt = 0, randomAt = 0;
  for (const c of calls) {
    const p = c.prim === 'elementwise' || c.prim === 'reduce' ? paramsOf(c) : undefined;
    const base = floatAt;
    floatAt += p?.length ?? 0;
    const param = (k: number) => b.slice(floats!, [base + k], [base + k + 1]);
    if (c.prim === 'random') {
      const at = 4 * randomAt++;
      random(vals, c.args[0], c.args[1], b.slice(words!, [at], [at + 4]));
    } else {
      lowerCall(vals, c, param, hooks);
    }
  }
  const outputs = vals.outputs().filter((o) => !scratch.has(o.storage));
  const text = b.module(outputs.map((o) => o.value));
  return {
    text,
    inputs: vals.inputs,
    outputs: outputs.map((o) => o.storage),
    scalars() {
      const f = floatCount ? new Float32Array(floatCount) : null;
      const w = randomCount ? new Uint32Array(4 * randomCount) : null;
      let fi = 0, wi = 0;
      for (const c of calls) {
        const p = c.prim === 'elementwise' || c.prim === 'reduce' ? paramsOf(c) : undefined;
        if (p) { f!.set(p, fi); fi += p.length; }
        if (c.prim === 'random') {
          const [seed, counter] = c.args[2];
          w!.set([...splitSeed(seed), ...splitSeed(counter)], wi);
          wi += 4;
        }
      }
      return { floats: f, words: w };
    },
  };
}

function paramsOf(c: Extract<LowerableCall, { prim: 'elementwise' | 'reduce' }>): readonly number[] | undefined {
  return c.prim === 'elementwise' ? c.args[3] : c.args[5];
}

function lowerCall(vals: StorageValues, c: LowerableCall, param: (k: number) => Value, hooks: LoweringHooks): void {
  const b = vals.b;
  switch (c.prim) {
    case 'elementwise': {
      const [exprs, inputs, outs] = c.args;
      const shape = outs[0]!.shape;
      const lowering = new ExprLowering(b, shape, inputs.map((v) => vals.view(v)), param);
      const results = exprs.map((e) => lowering.emit(e));
      outs.forEach((o, k) => vals.assign(o, results[k]!));
      return;
    }
    case 'reduce': return reduce(vals, c.args, param);
    case 'matmul': {
      // an operand whose batch differs from the output's is shared (stride 0): its first matrix serves every batch
      const [x, y, out] = c.args;
      const batch = out.shape[0]!;
      const shared = (v: View): View => (v.shape[0] === batch ? v : { ...v, shape: [batch, v.shape[1]!, v.shape[2]!], strides: [0, v.strides[1]!, v.strides[2]!] });
      vals.assign(out, b.batchMatmul(b.convert(vals.view(shared(x)), 'f32'), b.convert(vals.view(shared(y)), 'f32')));
      return;
    }
    case 'conv2d': return conv2d(vals, ...c.args);
    case 'conv2dBackwardInput': return conv2dBackwardInput(vals, ...c.args);
    case 'conv2dBackwardFilter': return conv2dBackwardFilter(vals, ...c.args);
    case 'im2col': return im2col(vals, ...c.args);
    case 'col2im': return col2im(vals, ...c.args);
    case 'pool2d': return pool2d(vals, ...c.args);
    case 'pool2dBackward': return pool2dBackward(vals, ...c.args);
    case 'gather': {
      const [x, indices, out] = c.args;
      vals.assign(out, vals.gatherFlat(x, alongAxis1(vals, x, indices, out.shape)));
      return;
    }
    case 'scatterAdd': {
      const [src, indices, out] = c.args;
      const target = alongAxis1(vals, out, indices, src.shape);
      const value = b.convert(vals.view(src), elemType(out.storage.dtype));
      vals.set(out.storage, b.scatterFlat(vals.read(out.storage), target, value, 'add'));
      return;
    }
    case 'checkIndices': {
      const [indices, limit] = c.args;
      const n = indices.shape[0]!;
      const idx = vals.view(indices);
      const at = b.iota([n], 0);
      const bad = b.map('or', [b.compare('LT', idx, b.constant(0, [n], 'i32')), b.compare('GE', idx, b.constant(limit, [n], 'i32'))]);
      const first = b.reduce(b.select(bad, at, b.constant(n, [n], 'i32')), n, [0], 'minimum');
      const value = b.reduce(b.select(b.compare('EQ', at, b.splat(first, [n])), idx, b.constant(0, [n], 'i32')), 0, [0], 'add');
      // sticky, as a GPU's flag: an earlier failure the host has not read yet is kept
      const flag = hooks.checkFlag(c);
      const before = vals.read(flag);
      const failedBefore = b.splat(b.compare('LT', b.slice(before, [0], [1]), b.constant(n, [1], 'i32')), [2]);
      vals.set(flag, b.select(failedBefore, before, b.concatenate([b.reshape(first, [1]), b.reshape(value, [1])], 0)));
      return;
    }
    case 'write': {
      const [target, data] = c.args;
      const source = vals.read(hooks.uploaded(c));
      vals.set(target, data.length === target.size ? source : b.updateSlice(vals.read(target), source, 0));
      return;
    }
    case 'random': throw new Error('random is lowered with its state');
  }
}

/** Flat indices of a [outer, n, inner] selection along axis 1 of `base` (a 3-D view) by an index vector. */
function alongAxis1(vals: StorageValues, base: View, indices: View, shape: readonly number[]): Value {
  const b = vals.b;
  const [s0, s1, s2] = base.strides as [number, number, number];
  const idx = b.broadcast(vals.view(indices), shape, [1]);
  const scaled = (k: number, s: number) => b.map('multiply', [b.iota(shape, k), b.constant(s, shape, 'i32')]);
  const rows = b.map('multiply', [idx, b.constant(s1, shape, 'i32')]);
  return b.map('add', [b.map('add', [scaled(0, s0), scaled(2, s2)]), b.map('add', [rows, b.constant(base.offset, shape, 'i32')])]);
}

function reduce(vals: StorageValues, [kind, expr, inputs, axes, out]: Extract<PrimitiveCall, { prim: 'reduce' }>['args'], param: (k: number) => Value): void {
  const b = vals.b;
  const full = inputs[0]?.shape ?? out.shape;
  let e = new ExprLowering(b, full, inputs.map((v) => vals.view(v)), param).emit(expr);
  if (e.type === 'i1') e = b.convert(e, 'i32');
  const int = e.type === 'i32';
  const big = int ? 2 ** 31 - 1 : Infinity, small = int ? -(2 ** 31) : -Infinity;
  let r: Value;
  switch (kind) {
    case 'sum': r = b.reduce(e, 0, axes, 'add'); break;
    case 'prod': r = b.reduce(e, 1, axes, 'multiply'); break;
    case 'max': r = b.reduce(e, small, axes, 'maximum'); break;
    case 'min': r = b.reduce(e, big, axes, 'minimum'); break;
    case 'argmax':
    case 'argmin': {
      const axis = axes[0]!, n = full[axis]!;
      const m = b.reduce(e, kind === 'argmax' ? small : big, [axis], kind === 'argmax' ? 'maximum' : 'minimum');
      const spread = b.broadcast(m, full, full.map((_, k) => k).filter((k) => k !== axis));
      let hit = b.compare('EQ', e, spread);
      if (!int) hit = b.map('or', [hit, b.compare('NE', e, e)]);
      r = b.reduce(b.select(hit, b.iota(full, axis), b.constant(n, full, 'i32')), n, [axis], 'minimum');
      break;
    }
  }
  vals.assign(out, b.reshape(r, out.shape));
}
