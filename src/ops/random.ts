// Random tensors from the counter-based generator: a seed gives the same numbers on every device.
import type { DType } from '../core/dtype.js';
import { fail } from '../core/errors.js';
import { checkDType, checkNumber } from '../core/validate.js';
import * as E from '../core/expr.js';
import { checkShape, sizeOf } from '../core/shape.js';
import type { RandomKind, RandomState } from '../backends/backend.js';
import { replayParams } from '../backends/capture.js';
import { getDefaultDevice } from '../backends/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyExpr } from './apply.js';
import { cast } from './arith.js';
import { created } from './util.js';

export interface RandomOptions {
  /** non-negative integer; without one, draws continue the global stream (see setSeed) */
  seed?: number;
  device?: string;
  dtype?: DType;
  /** @internal the generator position as a replay-params array (see replayParams), used as is */
  state?: number[];
}

let globalSeed = 0;
let globalCounter = 0;

/** Restarts the global random stream (used by draws that pass no seed). */
/** The global generator's position, saved in checkpoints so dropout continues the same stream. */
export function randomState(): { seed: number; counter: number } {
  return { seed: globalSeed, counter: globalCounter };
}

export function setRandomState(state: { seed: number; counter: number }): void {
  if (!Number.isSafeInteger(state?.counter) || state.counter < 0) fail('setRandomState', `invalid counter ${JSON.stringify(state?.counter)}`);
  globalSeed = checkSeed('setRandomState', state.seed);
  globalCounter = state.counter;
}

export function setSeed(seed: number): void {
  globalSeed = checkSeed('setSeed', seed);
  globalCounter = 0;
}

export function checkSeed(op: string, seed: number): number {
  if (!Number.isFinite(seed) || !Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    fail(op, `seed must be a non-negative integer, got ${seed}`);
  }
  return seed;
}

/** Draws from the generator; an explicit seed starts its own stream at counter 0. */
export function draw(op: string, kind: RandomKind, shape: readonly number[], opts: RandomOptions): Tensor {
  const s = checkShape(op, shape);
  const blocks = Math.ceil(sizeOf(s) / 4);
  // the global stream's position moves on at every draw, replayed ones too
  const state = opts.state
    ?? (opts.seed === undefined
      ? replayParams(() => { const at = globalCounter; globalCounter += blocks; return [globalSeed, at]; })
      : [checkSeed(op, opts.seed), 0]);
  const out = created(op, opts.device ?? getDefaultDevice(), s, 'float32');
  out.backend.random(kind, out.storageView, state as unknown as RandomState);
  return out;
}

const FLOAT_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];

/** a + scale * u drawn as float32, then cast to the requested floating dtype (as torch.rand/randn accept). */
function scaled(op: string, kind: RandomKind, shape: readonly number[], opts: RandomOptions, shift: number, scale: number): Tensor {
  const dtype = checkDType(op, opts.dtype ?? 'float32', FLOAT_DTYPES);
  const u = draw(op, kind, shape, opts);
  let out = u;
  if (shift !== 0 || scale !== 1) {
    out = applyExpr(op, E.add(shift, E.mul(scale, E.input(0))), [u]);
    u.dispose();
  }
  if (dtype === 'float32') return out;
  const half = cast(out, dtype);
  out.dispose();
  return half;
}

/** Uniform in [lo, hi). @example tsr.rand([2, 3], { seed: 1 }) */
export function rand(shape: readonly number[], opts: RandomOptions & { lo?: number; hi?: number } = {}): Tensor {
  const lo = checkNumber('rand', 'lo', opts.lo ?? 0), hi = checkNumber('rand', 'hi', opts.hi ?? 1);
  if (!(lo <= hi)) fail('rand', `expected lo <= hi, got lo=${lo}, hi=${hi}`);
  return scaled('rand', 'uniform', shape, opts, lo, hi - lo);
}

/** Normal with the given mean and standard deviation. */
export function randn(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const mean = checkNumber('randn', 'mean', opts.mean ?? 0), std = checkNumber('randn', 'std', opts.std ?? 1, { min: 0 });
  return scaled('randn', 'normal', shape, opts, mean, std);
}

/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || high <= low || low < -(2 ** 31) || high > 2 ** 31) {
    fail('randint', `expected int32 integers low < high, got ${low}, ${high}`);
  }
  const dtype = checkDType('randint', opts.dtype ?? 'int32', ['int32', 'float32']);
  const u = draw('randint', 'uniform', shape, opts);
  const out = applyExpr('randint', E.cast(E.add(low, E.unary('floor', E.mul(high - low, E.input(0)))), dtype), [u]);
  u.dispose();
  return out;
}
