// Optimizer base: per-parameter state, the step counter, learning-rate schedules and
// gradient clipping by global norm, all without reading values back to the host.
import { describe } from '../core/described.js';
import { fail } from '../core/errors.js';
import { type Range, checkBool, checkNumber, checkOptions, shown } from '../core/validate.js';
import * as E from '../core/expr.js';
import { replayParams } from '../backends/capture.js';
import { applyExpr } from '../ops/apply.js';
import { zerosLike } from '../ops/creation.js';
import { sumExpr } from '../ops/reduce.js';
import { noGrad } from '../tensor/autograd.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { LearningRate } from './schedules.js';

export interface OptimizerOptions {
  learningRate?: LearningRate;
  /** scale all gradients so their global L2 norm is at most this */
  clipNorm?: number;
}

/** An optimizer's own options and what each allows (a number range, or true/false). */
export type OptionSpec = Record<string, Range | 'boolean'>;

/** Fractions like beta1, rho and momentum: [0, 1). */
export const FRACTION: Range = { min: 0, max: 1, exclusiveMax: true };
export const NON_NEGATIVE: Range = { min: 0 };

function checkLearningRate(op: string, lr: unknown): LearningRate {
  if (typeof lr === 'function') return lr as LearningRate;
  if (typeof lr !== 'number' || !(lr >= 0 && Number.isFinite(lr))) fail(op, `learningRate must be a non-negative number or a schedule function, got ${shown(lr)}`);
  return lr;
}

export abstract class Optimizer {
  /** updates applied so far */
  iterations = 0;
  readonly clipNorm?: number;
  private lr: LearningRate;
  private readonly state = new Map<Tensor, Tensor[]>();

  /** `kind` and `opts` are recorded (see describe) so checkpoints can rebuild the optimizer. */
  constructor(kind: string, defaultLr: number, opts: OptimizerOptions, spec: OptionSpec = {}) {
    checkOptions(kind, opts, ['learningRate', 'clipNorm', ...Object.keys(spec)]);
    const all: OptionSpec = { clipNorm: { min: 0, exclusiveMin: true }, ...spec };
    for (const [name, allowed] of Object.entries(all)) {
      const v = (opts as Record<string, unknown>)[name];
      if (v === undefined) continue;
      if (allowed === 'boolean') checkBool(kind, name, v);
      else checkNumber(kind, name, v, allowed);
    }
    describe(this, kind, opts);
    this.lr = checkLearningRate(kind, opts.learningRate ?? defaultLr);
    this.clipNorm = opts.clipNorm;
  }

  /** The learning rate for the current step. */
  get learningRate(): number {
    if (typeof this.lr === 'number') return this.lr;
    const lr = this.lr(this.iterations);
    if (typeof lr !== 'number' || !(lr >= 0 && Number.isFinite(lr))) fail('optimizer', `the learning-rate schedule gave ${shown(lr)} at step ${this.iterations}; it must return a non-negative number`);
    return lr;
  }

  /** Replaces the learning rate (a number or a schedule of the step number). */
  setLearningRate(lr: LearningRate): void {
    this.lr = checkLearningRate('setLearningRate', lr);
  }

  /** Number of state tensors per parameter (moments). */
  protected abstract readonly slots: number;

  /** The scalars every parameter's update takes at this step (learning rate, bias corrections). */
  protected abstract stepParams(lr: number, step: number): number[];

  /** One fused in-place update of p (and its slots) from g, with this step's scalars. */
  protected abstract update(p: Tensor, g: Tensor, slots: Tensor[], params: readonly number[]): void;

  /** Applies one update to every parameter that has a gradient. @example opt.step(model.parameters()) */
  step(params: Iterable<Tensor>): void {
    const list = [...params].filter((p) => p.grad);
    // a replayed step counts and schedules its learning rate as this one
    const stepParams = replayParams(() => {
      const lr = this.learningRate;
      this.iterations++;
      return this.stepParams(lr, this.iterations);
    });
    noGrad(() => tidy(() => {
      const scale = this.clipNorm !== undefined ? this.clipScale(list) : null;
      for (const p of list) {
        const g = scale ? applyExpr('clipNorm', E.mul(E.input(0), E.input(1)), [p.grad!, scale]) : p.grad!;
        this.update(p, g, this.slotsOf(p), stepParams);
      }
    }));
  }

  /** min(1, clipNorm / ||g||) as a one-element tensor on the device. */
  private clipScale(params: Tensor[]): Tensor {
    const sq = E.mul(E.input(0), E.input(0));
    const parts = params.map((p) => sumExpr('clipNorm', sq, [p.grad!], undefined));
    let total = parts[0]!;
    for (const part of parts.slice(1)) total = applyExpr('clipNorm', E.add(E.input(0), E.input(1)), [total, part]);
    return applyExpr('clipNorm', E.binary('min', 1, E.div(this.clipNorm!, E.add(E.sqrt(E.input(0)), 1e-12))), [total]);
  }

  private slotsOf(p: Tensor): Tensor[] {
    let s = this.state.get(p);
    if (!s) {
      s = Array.from({ length: this.slots }, () => keep(zerosLike(p)));
      this.state.set(p, s);
    }
    return s;
  }

  /** Slot tensors by parameter, for checkpoints. */
  stateOf(p: Tensor): readonly Tensor[] | undefined {
    return this.state.get(p);
  }

  /** Number of state tensors kept per parameter. */
  get slotCount(): number {
    return this.slots;
  }

  /** Sets p's slots from saved values (a checkpoint being restored). */
  restoreState(p: Tensor, values: readonly Float32Array[]): void {
    if (values.length !== this.slots) fail('optimizer', `expected ${this.slots} state arrays per parameter, got ${values.length}`);
    this.slotsOf(p).forEach((slot, i) => slot.backend.write(slot.storageView.storage, values[i]!));
  }

  /** Frees all optimizer state. */
  dispose(): void {
    for (const s of this.state.values()) s.forEach((t) => t.dispose());
    this.state.clear();
  }
}
