// BatchNormalization (running statistics, channels last) and LayerNormalization.
import { fail } from '../../core/errors.js';
import * as E from '../../core/expr.js';
import type { Tensor } from '../../tensor/tensor.js';
import { assignExpr } from '../../ops/apply.js';
import { full } from '../../ops/creation.js';
import { moments, normalize } from '../../ops/nn.js';
import { reshape } from '../../ops/views.js';
import { Layer, type LayerArgs } from '../layer.js';

export interface BatchNormArgs extends LayerArgs { momentum?: number; epsilon?: number; center?: boolean; scale?: boolean }

/** Normalises each channel (last axis) by batch statistics while training, running ones at inference. */
export class BatchNormalization extends Layer {
  static override readonly options = ['momentum', 'epsilon', 'center', 'scale'];
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  constructor(args: BatchNormArgs = {}) {
    super('batch_normalization', args);
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
  }
  override build(inputShape: readonly number[], device: string): void {
    const c = inputShape[inputShape.length - 1];
    if (c === undefined) fail(this.name, 'needs inputs with a channel axis');
    if (this.scale) this.addWeight('gamma', full([c], 1, { device }));
    if (this.center) this.addWeight('beta', full([c], 0, { device }));
    this.addState('moving_mean', full([c], 0, { device }));
    this.addState('moving_variance', full([c], 1, { device }));
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape]; }
  forward(x: Tensor): Tensor {
    const c = x.shape[x.rank - 1]!;
    const gamma = this.scale ? this.weight('gamma') : undefined;
    const beta = this.center ? this.weight('beta') : undefined;
    if (!this.training) return normalize(x, this.weight('moving_mean'), this.weight('moving_variance'), gamma, beta, this.epsilon);
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = moments(x, axes, true);
    // in place, so the running statistics stay the same tensors (a compiled step updates them)
    const m = this.momentum;
    const upd = (k: number) => E.add(E.mul(m, E.input(k)), E.mul(1 - m, E.input(k + 2)));
    assignExpr(this.name, [this.weight('moving_mean'), this.weight('moving_variance')], [upd(0), upd(1)],
      [this.weight('moving_mean'), this.weight('moving_variance'), reshape(mean, [c]).detach(), reshape(variance, [c]).detach()]);
    return normalize(x, mean, variance, gamma, beta, this.epsilon);
  }
}

export interface LayerNormArgs extends LayerArgs { epsilon?: number; center?: boolean; scale?: boolean }

/** Normalises each sample over its last axis, with a learned scale and shift. */
export class LayerNormalization extends Layer {
  static override readonly passesMask = true;
  static override readonly options = ['epsilon', 'center', 'scale'];
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  constructor(args: LayerNormArgs = {}) {
    super('layer_normalization', args);
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
  }
  override build(inputShape: readonly number[], device: string): void {
    const c = inputShape[inputShape.length - 1]!;
    if (this.scale) this.addWeight('gamma', full([c], 1, { device }));
    if (this.center) this.addWeight('beta', full([c], 0, { device }));
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape]; }
  forward(x: Tensor): Tensor {
    const { mean, variance } = moments(x, -1, true);
    return normalize(x, mean, variance, this.scale ? this.weight('gamma') : undefined, this.center ? this.weight('beta') : undefined, this.epsilon);
  }
}
