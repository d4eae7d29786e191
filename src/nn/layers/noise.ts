// Layers that draw random numbers while training (dropout, spatial dropout, Gaussian noise):
// each has a seed in its config and counts its calls, so a loaded model or a replayed step
// draws the same stream; at inference they pass the input through.
import { fail } from '../../core/errors.js';
import * as E from '../../core/expr.js';
import type { Tensor } from '../../tensor/tensor.js';
import { replayParams } from '../../backends/capture.js';
import { applyExpr } from '../../ops/apply.js';
import { dropout } from '../../ops/nn.js';
import { draw } from '../../ops/random.js';
import { Layer, type LayerArgs } from '../layer.js';

let nextSeed = 0x5eed;

abstract class RandomLayer extends Layer {
  protected readonly seed: number;
  private calls = 0;
  constructor(prefix: string, args: LayerArgs & { seed?: number }) {
    super(prefix, args);
    this.seed = args.seed ?? nextSeed++;
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape]; }
  /** the seed drawn at construction is part of the config, so a loaded model draws the same masks */
  override getConfig(): Record<string, unknown> { return { ...super.getConfig(), seed: this.seed }; }
  override hostState(): Record<string, number> { return { calls: this.calls }; }
  override restoreHostState(state: Record<string, number>): void {
    if (!Number.isSafeInteger(state['calls']) || state['calls']! < 0) fail(this.name, `invalid saved call count ${JSON.stringify(state['calls'])}`);
    this.calls = state['calls']!;
  }
  /** The generator position of this call: seed and call number select the stream (a replayed step counts its calls too). */
  protected nextState(): number[] {
    return replayParams(() => [(this.seed * 1_000_003 + this.calls++) % Number.MAX_SAFE_INTEGER, 0]);
  }
}

function checkRate(op: string, rate: number): number {
  if (!(rate >= 0 && rate < 1)) fail(op, `rate must be in [0, 1), got ${rate}`);
  return rate;
}

/** Zeroes a fraction `rate` of inputs while training (scaling the rest by 1 / (1 - rate)); identity at inference. */
export class Dropout extends RandomLayer {
  static override readonly passesMask = true;
  static override readonly options = ['rate', 'seed'];
  readonly rate: number;
  constructor(args: LayerArgs & { rate: number; seed?: number }) {
    super('dropout', args);
    this.rate = checkRate('dropout', args.rate);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.rate === 0) return x;
    return dropout(x, this.rate, { state: this.nextState() });
  }
}

/** Dropout of whole channels (the last axis) per sample: rank 3 for SpatialDropout1D, 4 for 2D. */
abstract class SpatialDropout extends RandomLayer {
  static override readonly options = ['rate', 'seed'];
  readonly rate: number;
  constructor(prefix: string, args: LayerArgs & { rate: number; seed?: number }, private readonly rank: number) {
    super(prefix, args);
    this.rate = checkRate(prefix, args.rate);
  }
  forward(x: Tensor): Tensor {
    if (x.rank !== this.rank) fail(this.name, `expects inputs of rank ${this.rank} (channels last), got shape [${x.shape.join(', ')}]`);
    if (!this.training || this.rate === 0) return x;
    // one draw per (sample, channel), broadcast over the steps or pixels
    const maskShape = x.shape.map((d, i) => (i === 0 || i === x.rank - 1 ? d : 1));
    // the draw stays alive for the gradient; the caller's tidy (fit's step) frees it
    const u = draw(this.name, 'uniform', maskShape, { state: this.nextState(), device: x.device });
    return applyExpr(this.name, E.where(E.binary('ge', E.input(1), this.rate), E.mul(E.input(0), 1 / (1 - this.rate)), 0), [x, u]);
  }
}

export class SpatialDropout1D extends SpatialDropout {
  constructor(args: LayerArgs & { rate: number; seed?: number }) { super('spatial_dropout1d', args, 3); }
}
export class SpatialDropout2D extends SpatialDropout {
  constructor(args: LayerArgs & { rate: number; seed?: number }) { super('spatial_dropout2d', args, 4); }
}

/** Adds zero-mean Gaussian noise of standard deviation `stddev` while training; identity at inference. */
export class GaussianNoise extends RandomLayer {
  static override readonly passesMask = true;
  static override readonly options = ['stddev', 'seed'];
  readonly stddev: number;
  constructor(args: LayerArgs & { stddev: number; seed?: number }) {
    super('gaussian_noise', args);
    if (!(args.stddev >= 0 && Number.isFinite(args.stddev))) fail(this.name, `stddev must be a non-negative number, got ${args.stddev}`);
    this.stddev = args.stddev;
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.stddev === 0) return x;
    const z = draw(this.name, 'normal', x.shape, { state: this.nextState(), device: x.device });
    return applyExpr(this.name, E.add(E.input(0), E.mul(this.stddev, E.input(1))), [x, z]);
  }
}
