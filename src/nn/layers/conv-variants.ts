// The other 2-D convolutions of Keras: depthwise (one filter bank per input channel), separable
// (depthwise, then a 1x1 convolution mixing channels: MobileNet's block) and transposed (the
// upsampling "deconvolution" of decoders and GANs).
import { fail } from '../../core/errors.js';
import { checkInt, checkOneOf } from '../../core/validate.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type LayerActivation, biasActivation, checkActivation } from '../../ops/activations.js';
import { conv2d } from '../../ops/conv.js';
import { conv2dTranspose } from '../../ops/conv-transpose.js';
import { reshape } from '../../ops/views.js';
import { type Pair, pair } from '../../ops/window-geometry.js';
import { type Initializer, initialize } from '../initializers.js';
import { Layer, type LayerArgs } from '../layer.js';
import { type Regularizer, checkRegularizer, penalty } from '../regularizers.js';
import { outShape } from './conv.js';

interface WindowArgs extends LayerArgs {
  kernelSize: Pair;
  strides?: Pair;
  padding?: 'valid' | 'same';
  dilationRate?: Pair;
  activation?: LayerActivation;
  useBias?: boolean;
  biasInitializer?: Initializer;
}

/** What the three share: the window, the activation and the bias. */
abstract class WindowConv extends Layer {
  readonly kernelSize: [number, number];
  readonly strides: Pair;
  readonly padding: 'valid' | 'same';
  readonly dilationRate: Pair;
  readonly activation: LayerActivation;
  readonly useBias: boolean;
  protected readonly biasInit: Initializer;
  constructor(prefix: string, args: WindowArgs) {
    super(prefix, args);
    this.kernelSize = pair(this.name, 'kernelSize', args.kernelSize);
    this.strides = args.strides ?? 1;
    pair(this.name, 'strides', this.strides);
    this.padding = checkOneOf(this.name, 'padding', args.padding ?? 'valid', ['valid', 'same'] as const);
    this.dilationRate = args.dilationRate ?? 1;
    pair(this.name, 'dilationRate', this.dilationRate);
    this.activation = checkActivation(args.activation ?? 'linear');
    this.useBias = args.useBias ?? true;
    this.biasInit = args.biasInitializer ?? 'zeros';
  }
  protected channels(inputShape: readonly number[]): number {
    if (inputShape.length !== 3) fail(this.name, `expects per-sample input [height, width, channels], got [${inputShape.join(', ')}]`);
    return inputShape[2]!;
  }
  protected finish(y: Tensor): Tensor {
    return biasActivation(this.name, y, this.useBias ? this.weight('bias') : undefined, this.activation);
  }
  protected get window() { return { strides: this.strides, padding: this.padding, dilations: this.dilationRate }; }
}

export interface DepthwiseConv2DArgs extends WindowArgs {
  /** filters per input channel (output channels = input channels x depthMultiplier) */
  depthMultiplier?: number;
  depthwiseInitializer?: Initializer;
  depthwiseRegularizer?: Regularizer;
}

/** Each input channel convolved with its own depthMultiplier filters; kernel [KH, KW, Cin, depthMultiplier] as Keras. */
export class DepthwiseConv2D extends WindowConv {
  static override readonly options = ['kernelSize', 'strides', 'padding', 'dilationRate', 'depthMultiplier', 'activation', 'useBias', 'depthwiseInitializer', 'biasInitializer', 'depthwiseRegularizer'];
  readonly depthMultiplier: number;
  readonly depthwiseRegularizer?: Regularizer;
  private readonly depthwiseInit: Initializer;
  constructor(args: DepthwiseConv2DArgs) {
    super('depthwise_conv2d', args);
    this.depthMultiplier = checkInt(this.name, 'depthMultiplier', args.depthMultiplier ?? 1, { min: 1 });
    this.depthwiseInit = args.depthwiseInitializer ?? 'glorotUniform';
    this.depthwiseRegularizer = checkRegularizer(this.name, 'depthwiseRegularizer', args.depthwiseRegularizer);
  }
  override build(inputShape: readonly number[], device: string): void {
    const c = this.channels(inputShape);
    this.addWeight('depthwise_kernel', initialize(this.depthwiseInit, [...this.kernelSize, c, this.depthMultiplier], device));
    if (this.useBias) this.addWeight('bias', initialize(this.biasInit, [c * this.depthMultiplier], device));
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    return [...outShape(this.name, inputShape, ...this.kernelSize, this.strides, this.padding, this.dilationRate), this.channels(inputShape) * this.depthMultiplier];
  }
  forward(x: Tensor): Tensor {
    return this.finish(depthwise(x, this.weight('depthwise_kernel'), this.window));
  }
  override regularization(): Tensor | null {
    return this.depthwiseRegularizer ? penalty(this.name, this.weight('depthwise_kernel'), this.depthwiseRegularizer) : null;
  }
}

/** A grouped convolution with one group per channel: [KH, KW, C, M] is [KH, KW, 1, C*M] in the same memory order. */
function depthwise(x: Tensor, k: Tensor, window: { strides: Pair; padding: 'valid' | 'same'; dilations: Pair }): Tensor {
  const [kh, kw, c, m] = k.shape as [number, number, number, number];
  return conv2d(x, reshape(k, [kh, kw, 1, c * m]), { ...window, groups: c });
}

export interface SeparableConv2DArgs extends WindowArgs {
  filters: number;
  depthMultiplier?: number;
  depthwiseInitializer?: Initializer;
  pointwiseInitializer?: Initializer;
}

/** A depthwise convolution, then a 1x1 convolution to `filters` channels (weights depthwise_kernel, pointwise_kernel, bias). */
export class SeparableConv2D extends WindowConv {
  static override readonly options = ['filters', 'kernelSize', 'strides', 'padding', 'dilationRate', 'depthMultiplier', 'activation', 'useBias', 'depthwiseInitializer', 'pointwiseInitializer', 'biasInitializer'];
  readonly filters: number;
  readonly depthMultiplier: number;
  private readonly inits: [Initializer, Initializer];
  constructor(args: SeparableConv2DArgs) {
    super('separable_conv2d', args);
    this.filters = checkInt(this.name, 'filters', args.filters, { min: 1 });
    this.depthMultiplier = checkInt(this.name, 'depthMultiplier', args.depthMultiplier ?? 1, { min: 1 });
    this.inits = [args.depthwiseInitializer ?? 'glorotUniform', args.pointwiseInitializer ?? 'glorotUniform'];
  }
  override build(inputShape: readonly number[], device: string): void {
    const c = this.channels(inputShape);
    this.addWeight('depthwise_kernel', initialize(this.inits[0], [...this.kernelSize, c, this.depthMultiplier], device));
    this.addWeight('pointwise_kernel', initialize(this.inits[1], [1, 1, c * this.depthMultiplier, this.filters], device));
    if (this.useBias) this.addWeight('bias', initialize(this.biasInit, [this.filters], device));
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    this.channels(inputShape);
    return [...outShape(this.name, inputShape, ...this.kernelSize, this.strides, this.padding, this.dilationRate), this.filters];
  }
  forward(x: Tensor): Tensor {
    return this.finish(conv2d(depthwise(x, this.weight('depthwise_kernel'), this.window), this.weight('pointwise_kernel')));
  }
}

export interface Conv2DTransposeArgs extends WindowArgs {
  filters: number;
  kernelInitializer?: Initializer;
  kernelRegularizer?: Regularizer;
}

/** Upsampling convolution: output [H*s, W*s] ('same') or [(H-1)*s + KH, ...] ('valid'); kernel [KH, KW, filters, Cin] as Keras. */
export class Conv2DTranspose extends WindowConv {
  static override readonly options = ['filters', 'kernelSize', 'strides', 'padding', 'dilationRate', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer'];
  readonly filters: number;
  readonly kernelRegularizer?: Regularizer;
  private readonly kernelInit: Initializer;
  constructor(args: Conv2DTransposeArgs) {
    super('conv2d_transpose', args);
    this.filters = checkInt(this.name, 'filters', args.filters, { min: 1 });
    this.kernelInit = args.kernelInitializer ?? 'glorotUniform';
    this.kernelRegularizer = checkRegularizer(this.name, 'kernelRegularizer', args.kernelRegularizer);
  }
  override build(inputShape: readonly number[], device: string): void {
    const c = this.channels(inputShape);
    this.addWeight('kernel', initialize(this.kernelInit, [...this.kernelSize, this.filters, c], device));
    if (this.useBias) this.addWeight('bias', initialize(this.biasInit, [this.filters], device));
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    this.channels(inputShape);
    const [s, d] = [pair(this.name, 'strides', this.strides), pair(this.name, 'dilationRate', this.dilationRate)];
    const size = (n: number, k: number, i: number) => (this.padding === 'same' ? n * s[i]! : (n - 1) * s[i]! + (k - 1) * d[i]! + 1);
    return [size(inputShape[0]!, this.kernelSize[0], 0), size(inputShape[1]!, this.kernelSize[1], 1), this.filters];
  }
  forward(x: Tensor): Tensor {
    return this.finish(conv2dTranspose(x, this.weight('kernel'), this.window));
  }
  override regularization(): Tensor | null {
    return this.kernelRegularizer ? penalty(this.name, this.weight('kernel'), this.kernelRegularizer) : null;
  }
}
