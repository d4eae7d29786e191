// Random tensors from the counter-based generator: a seed gives the same numbers on every device.
import type { DType } from '../core/dtype.js';
import { fail } from '../core/errors.js';
import * as E from '../core/expr.js';
import { checkShape, sizeOf } from '../core/shape.js';
import type { RandomKind } from '../backends/backend.js';
import { getDefaultDevice } from '../backends/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyExpr } from './apply.js';
import { created } from './util.js';

export interface RandomOptions {
  /** non-negative integer; without one, draws continue the global stream (see setSeed) */
  seed?: number;
  device?: string;
  dtype?: DType;
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
  let seed: number, counter: number;
  if (opts.seed === undefined) {
    seed = globalSeed;
    counter = globalCounter;
    globalCounter += Math.ceil(sizeOf(s) / 4);
  } else {
    seed = checkSeed(op, opts.seed);
    counter = 0;
  }
  const out = created(op, opts.device ?? getDefaultDevice(), s, 'float32');
  out.backend.random(kind, seed, counter, out.storageView);
  return out;
}

/** Uniform in [lo, hi). @example tsr.rand([2, 3], { seed: 1 }) */
export function rand(shape: readonly number[], opts: RandomOptions & { lo?: number; hi?: number } = {}): Tensor {
  const u = draw('rand', 'uniform', shape, opts);
  const { lo = 0, hi = 1 } = opts;
  if (lo === 0 && hi === 1) return u;
  const out = applyExpr('rand', E.add(lo, E.mul(hi - lo, E.input(0))), [u]);
  u.dispose();
  return out;
}

/** Normal with the given mean and standard deviation. */
export function randn(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const z = draw('randn', 'normal', shape, opts);
  const { mean = 0, std = 1 } = opts;
  if (mean === 0 && std === 1) return z;
  const out = applyExpr('randn', E.add(mean, E.mul(std, E.input(0))), [z]);
  z.dispose();
  return out;
}

/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) fail('randint', `expected integers low < high, got ${low}, ${high}`);
  const u = draw('randint', 'uniform', shape, opts);
  const out = applyExpr('randint', E.cast(E.add(low, E.unary('floor', E.mul(high - low, E.input(0)))), opts.dtype ?? 'int32'), [u]);
  u.dispose();
  return out;
}
