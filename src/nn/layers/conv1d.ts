// Layers over sequences [batch, steps, channels] (Conv1D, 1-D pooling) run as their 2-D forms
// over a height of one; global max and mean pooling over steps or over height and width.
import { fail } from '../../core/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type LayerActivation, biasActivation, checkActivation } from '../../ops/activations.js';
import { conv2d } from '../../ops/conv.js';
import { pad } from '../../ops/join.js';
import { avgPool2d, maxPool2d } from '../../ops/pool.js';
import { max, mean } from '../../ops/reduce.js';
import { reshape } from '../../ops/views.js';
import { windowGeometry } from '../../ops/window-geometry.js';
import { type Initializer, initialize } from '../initializers.js';
import { Layer, type LayerArgs } from '../layer.js';
import { type Regularizer, checkRegularizer, penalty } from '../regularizers.js';

function sequence(op: string, inputShape: readonly number[]): [number, number] {
  if (inputShape.length !== 2) fail(op, `expects per-sample input [steps, channels], got [${inputShape.join(', ')}]`);
  return inputShape as [number, number];
}

/** Output steps of a window of `size` (dilated by `dilation`) moving by `stride`. */
function steps(op: string, n: number, size: number, stride: number, padding: 'valid' | 'same', dilation = 1): number {
  return windowGeometry(op, [1, 1, n, 1], 1, size, [1, stride], padding, [1, dilation]).outW;
}

const positive = (op: string, name: string, v: number) => (Number.isInteger(v) && v >= 1 ? v : fail(op, `${name} must be a positive integer, got ${v}`));

export interface Conv1DArgs extends LayerArgs {
  filters: number;
  kernelSize: number;
  strides?: number;
  /** 'causal' pads only the start, so step t sees steps <= t (WaveNet-style) */
  padding?: 'valid' | 'same' | 'causal';
  dilationRate?: number;
  activation?: LayerActivation;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
  /** a penalty on the kernel added to the training loss: { l1?, l2? } */
  kernelRegularizer?: Regularizer;
}

/** Convolution over steps: kernel [kernelSize, channels, filters]. @example tsr.layers.conv1d({ filters: 16, kernelSize: 3 }) */
export class Conv1D extends Layer {
  static override readonly options = ['filters', 'kernelSize', 'strides', 'padding', 'dilationRate', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer'];
  readonly filters: number;
  readonly kernelRegularizer?: Regularizer;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: 'valid' | 'same' | 'causal';
  readonly dilationRate: number;
  readonly activation: LayerActivation;
  readonly useBias: boolean;
  private readonly inits: [Initializer, Initializer];
  constructor(args: Conv1DArgs) {
    super('conv1d', args);
    this.filters = positive(this.name, 'filters', args.filters);
    this.kernelSize = positive(this.name, 'kernelSize', args.kernelSize);
    this.strides = positive(this.name, 'strides', args.strides ?? 1);
    this.dilationRate = positive(this.name, 'dilationRate', args.dilationRate ?? 1);
    this.padding = args.padding ?? 'valid';
    if (!['valid', 'same', 'causal'].includes(this.padding)) fail(this.name, `padding must be valid, same or causal, got ${JSON.stringify(args.padding)}`);
    this.activation = checkActivation(args.activation ?? 'linear');
    this.useBias = args.useBias ?? true;
    this.inits = [args.kernelInitializer ?? 'glorotUniform', args.biasInitializer ?? 'zeros'];
    this.kernelRegularizer = checkRegularizer(this.name, 'kernelRegularizer', args.kernelRegularizer);
  }

  override regularization(): Tensor | null {
    return this.kernelRegularizer ? penalty(this.name, this.weight('kernel'), this.kernelRegularizer) : null;
  }
  override build(inputShape: readonly number[], device: string): void {
    const [, c] = sequence(this.name, inputShape);
    this.computeOutputShape(inputShape);
    this.addWeight('kernel', initialize(this.inits[0], [this.kernelSize, c, this.filters], device));
    if (this.useBias) this.addWeight('bias', initialize(this.inits[1], [this.filters], device));
  }
  private get causalPad(): number { return this.padding === 'causal' ? (this.kernelSize - 1) * this.dilationRate : 0; }
  computeOutputShape(inputShape: readonly number[]): number[] {
    const [n] = sequence(this.name, inputShape);
    return [steps(this.name, n + this.causalPad, this.kernelSize, this.strides, this.padding === 'same' ? 'same' : 'valid', this.dilationRate), this.filters];
  }
  forward(x: Tensor): Tensor {
    const [b, n, c] = x.shape as [number, number, number];
    const padded = this.causalPad ? pad(x, [[0, 0], [this.causalPad, 0], [0, 0]]) : x;
    const k = this.weight('kernel');
    const y = conv2d(reshape(padded, [b, 1, n + this.causalPad, c]), reshape(k, [1, ...k.shape]), {
      strides: [1, this.strides], padding: this.padding === 'same' ? 'same' : 'valid', dilations: [1, this.dilationRate],
    });
    const out = reshape(y, [b, y.shape[2]!, this.filters]);
    return biasActivation(this.name, out, this.useBias ? this.weight('bias') : undefined, this.activation);
  }
}

export interface Pooling1DArgs extends LayerArgs { poolSize?: number; strides?: number; padding?: 'valid' | 'same' }

abstract class Pooling1D extends Layer {
  readonly poolSize: number;
  readonly strides: number;
  readonly padding: 'valid' | 'same';
  constructor(prefix: string, args: Pooling1DArgs, private readonly pool: typeof maxPool2d) {
    super(prefix, args);
    this.poolSize = positive(this.name, 'poolSize', args.poolSize ?? 2);
    this.strides = positive(this.name, 'strides', args.strides ?? this.poolSize);
    this.padding = args.padding ?? 'valid';
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    const [n, c] = sequence(this.name, inputShape);
    return [steps(this.name, n, this.poolSize, this.strides, this.padding), c];
  }
  forward(x: Tensor): Tensor {
    const [b, n, c] = x.shape as [number, number, number];
    const y = this.pool(reshape(x, [b, 1, n, c]), { poolSize: [1, this.poolSize], strides: [1, this.strides], padding: this.padding });
    return reshape(y, [b, y.shape[2]!, c]);
  }
}

export class MaxPooling1D extends Pooling1D {
  static override readonly options = ['poolSize', 'strides', 'padding'];
  constructor(args: Pooling1DArgs = {}) { super('max_pooling1d', args, maxPool2d); }
}

export class AveragePooling1D extends Pooling1D {
  static override readonly options = ['poolSize', 'strides', 'padding'];
  constructor(args: Pooling1DArgs = {}) { super('average_pooling1d', args, avgPool2d); }
}

/** Max or mean over every axis but the batch and the channels (the last). */
abstract class GlobalPooling extends Layer {
  static override readonly options = [];
  constructor(prefix: string, args: LayerArgs, private readonly rank: number, private readonly reduce: (x: Tensor, axes: number[]) => Tensor) { super(prefix, args); }
  computeOutputShape(inputShape: readonly number[]): number[] {
    if (inputShape.length !== this.rank) fail(this.name, `expects per-sample input of rank ${this.rank} (channels last), got [${inputShape.join(', ')}]`);
    return [inputShape[this.rank - 1]!];
  }
  forward(x: Tensor): Tensor {
    this.computeOutputShape(x.shape.slice(1));
    return this.reduce(x, Array.from({ length: this.rank - 1 }, (_, i) => i + 1));
  }
}

export class GlobalMaxPooling1D extends GlobalPooling { constructor(args: LayerArgs = {}) { super('global_max_pooling1d', args, 2, max); } }
export class GlobalAveragePooling1D extends GlobalPooling { constructor(args: LayerArgs = {}) { super('global_average_pooling1d', args, 2, mean); } }
export class GlobalMaxPooling2D extends GlobalPooling { constructor(args: LayerArgs = {}) { super('global_max_pooling2d', args, 3, max); } }
