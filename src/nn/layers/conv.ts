// Conv2D and the pooling layers, channels-last (NHWC) like Keras.
import { fail } from '../../core/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type LayerActivation, biasActivation, checkActivation } from '../../ops/activations.js';
import { conv2d } from '../../ops/conv.js';
import { avgPool2d, maxPool2d } from '../../ops/pool.js';
import { mean } from '../../ops/reduce.js';
import { type Pair, pair, windowGeometry } from '../../ops/window-geometry.js';
import { type Initializer, initialize } from '../initializers.js';
import { Layer, type LayerArgs } from '../layer.js';
import { type Regularizer, checkRegularizer, penalty } from '../regularizers.js';

export interface Conv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: Pair;
  strides?: Pair;
  padding?: 'valid' | 'same';
  dilationRate?: Pair;
  groups?: number;
  activation?: LayerActivation;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
  /** a penalty on the kernel added to the training loss: { l1?, l2? } */
  kernelRegularizer?: Regularizer;
}

export function outShape(op: string, inputShape: readonly number[], kh: number, kw: number, strides: Pair, padding: 'valid' | 'same', dilation: Pair = 1): [number, number] {
  if (inputShape.length !== 3) fail(op, `expects per-sample input [height, width, channels], got [${inputShape.join(', ')}]`);
  const g = windowGeometry(op, [1, ...inputShape], kh, kw, strides, padding, dilation);
  return [g.outH, g.outW];
}

export class Conv2D extends Layer {
  static override readonly options = ['filters', 'kernelSize', 'strides', 'padding', 'dilationRate', 'groups', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer'];
  readonly filters: number;
  readonly kernelRegularizer?: Regularizer;
  readonly kernelSize: [number, number];
  readonly strides: Pair;
  readonly padding: 'valid' | 'same';
  readonly dilationRate: Pair;
  readonly groups: number;
  readonly activation: LayerActivation;
  readonly useBias: boolean;
  private readonly kernelInit: Initializer;
  private readonly biasInit: Initializer;

  constructor(args: Conv2DArgs) {
    super('conv2d', args);
    if (!Number.isInteger(args.filters) || args.filters <= 0) fail('conv2d', `filters must be a positive integer, got ${args.filters}`);
    this.filters = args.filters;
    this.kernelSize = pair('conv2d', 'kernelSize', args.kernelSize);
    this.strides = args.strides ?? 1;
    this.padding = args.padding ?? 'valid';
    this.dilationRate = args.dilationRate ?? 1;
    this.groups = args.groups ?? 1;
    this.activation = checkActivation(args.activation ?? 'linear');
    this.useBias = args.useBias ?? true;
    this.kernelInit = args.kernelInitializer ?? 'glorotUniform';
    this.biasInit = args.biasInitializer ?? 'zeros';
    this.kernelRegularizer = checkRegularizer(this.name, 'kernelRegularizer', args.kernelRegularizer);
  }

  override regularization(): Tensor | null {
    return this.kernelRegularizer ? penalty(this.name, this.weight('kernel'), this.kernelRegularizer) : null;
  }

  override build(inputShape: readonly number[], device: string): void {
    this.computeOutputShape(inputShape);
    const cin = inputShape[2]!;
    if (cin % this.groups !== 0) fail(this.name, `groups=${this.groups} must divide the ${cin} input channels`);
    this.addWeight('kernel', initialize(this.kernelInit, [...this.kernelSize, cin / this.groups, this.filters], device));
    if (this.useBias) this.addWeight('bias', initialize(this.biasInit, [this.filters], device));
  }

  computeOutputShape(inputShape: readonly number[]): number[] {
    return [...outShape(this.name, inputShape, ...this.kernelSize, this.strides, this.padding, this.dilationRate), this.filters];
  }

  forward(x: Tensor): Tensor {
    const y = conv2d(x, this.weight('kernel'), { strides: this.strides, padding: this.padding, dilations: this.dilationRate, groups: this.groups });
    return biasActivation(this.name, y, this.useBias ? this.weight('bias') : undefined, this.activation);
  }
}

export interface Pooling2DArgs extends LayerArgs {
  poolSize?: Pair;
  strides?: Pair;
  padding?: 'valid' | 'same';
}

abstract class Pooling2D extends Layer {
  readonly poolSize: [number, number];
  readonly strides: Pair;
  readonly padding: 'valid' | 'same';
  constructor(prefix: string, args: Pooling2DArgs) {
    super(prefix, args);
    this.poolSize = pair(prefix, 'poolSize', args.poolSize ?? 2);
    this.strides = args.strides ?? this.poolSize;
    this.padding = args.padding ?? 'valid';
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    return [...outShape(this.name, inputShape, ...this.poolSize, this.strides, this.padding), inputShape[2]!];
  }
}

export class MaxPooling2D extends Pooling2D {
  static override readonly options = ['poolSize', 'strides', 'padding'];
  constructor(args: Pooling2DArgs = {}) { super('max_pooling2d', args); }
  forward(x: Tensor): Tensor { return maxPool2d(x, { poolSize: this.poolSize, strides: this.strides, padding: this.padding }); }
}

export class AveragePooling2D extends Pooling2D {
  static override readonly options = ['poolSize', 'strides', 'padding'];
  constructor(args: Pooling2DArgs = {}) { super('average_pooling2d', args); }
  forward(x: Tensor): Tensor { return avgPool2d(x, { poolSize: this.poolSize, strides: this.strides, padding: this.padding }); }
}

/** Mean over height and width: [B, H, W, C] -> [B, C]. */
export class GlobalAveragePooling2D extends Layer {
  static override readonly options = [];
  constructor(args: LayerArgs = {}) { super('global_average_pooling2d', args); }
  computeOutputShape(inputShape: readonly number[]): number[] {
    if (inputShape.length !== 3) fail(this.name, `expects per-sample input [height, width, channels], got [${inputShape.join(', ')}]`);
    return [inputShape[2]!];
  }
  forward(x: Tensor): Tensor { return mean(x, [1, 2]); }
}
