// Shape and regularisation layers without weights: flatten, reshape, activation, dropout.
import { fail } from '../../core/errors.js';
import * as E from '../../core/expr.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type LayerActivation, activationExpr, checkActivation, leakyRelu } from '../../ops/activations.js';
import { applyExpr, fuse } from '../../ops/apply.js';
import { type Initializer, initialize } from '../initializers.js';
import { softmax } from '../../ops/nn.js';
import { reshape } from '../../ops/views.js';
import { Layer, type LayerArgs } from '../layer.js';

export class Flatten extends Layer {
  static override readonly options = [];
  constructor(args: LayerArgs = {}) { super('flatten', args); }
  computeOutputShape(inputShape: readonly number[]): number[] { return [inputShape.reduce((a, b) => a * b, 1)]; }
  forward(x: Tensor): Tensor { return reshape(x, [x.shape[0]!, -1]); }
}

export class Reshape extends Layer {
  static override readonly options = ['targetShape'];
  readonly targetShape: number[];
  constructor(args: LayerArgs & { targetShape: readonly number[] }) {
    super('reshape', args);
    this.targetShape = [...args.targetShape];
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    const n = inputShape.reduce((a, b) => a * b, 1);
    const known = this.targetShape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const shape = this.targetShape.map((d) => (d === -1 ? n / known : d));
    if (shape.reduce((a, b) => a * b, 1) !== n || !shape.every(Number.isInteger)) fail(this.name, `cannot reshape [${inputShape.join(', ')}] to [${this.targetShape.join(', ')}]`);
    return shape;
  }
  forward(x: Tensor): Tensor { return reshape(x, [x.shape[0]!, ...this.computeOutputShape(x.shape.slice(1))]); }
}

export class Activation extends Layer {
  static override readonly passesMask = true;
  static override readonly options = ['activation'];
  readonly activation: LayerActivation;
  constructor(args: LayerArgs & { activation: LayerActivation }) {
    super('activation', args);
    this.activation = checkActivation(args.activation);
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape]; }
  forward(x: Tensor): Tensor {
    if (this.activation === 'softmax') return softmax(x, -1);
    const act = activationExpr(this.activation);
    return fuse(this.name, (a) => act(E.lift(a!)), x);
  }
}

/** softmax over one axis (the last by default). @example tsr.layers.softmax() */
export class Softmax extends Layer {
  static override readonly passesMask = true;
  static override readonly options = ['axis'];
  readonly axis: number;
  constructor(args: LayerArgs & { axis?: number } = {}) {
    super('softmax', args);
    this.axis = args.axis ?? -1;
    if (!Number.isInteger(this.axis)) fail(this.name, `axis must be an integer, got ${this.axis}`);
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape]; }
  forward(x: Tensor): Tensor { return softmax(x, this.axis); }
}

/**
 * x for x > 0, alpha * x otherwise, with alpha learned per element of the sample (or shared
 * along `sharedAxes`, counted from 1 as Keras). @example tsr.layers.prelu({ sharedAxes: [1, 2] })
 */
export class PReLU extends Layer {
  static override readonly options = ['alphaInitializer', 'sharedAxes'];
  readonly sharedAxes: number[];
  private readonly init: Initializer;
  constructor(args: LayerArgs & { alphaInitializer?: Initializer; sharedAxes?: number[] } = {}) {
    super('p_re_lu', args);
    this.init = args.alphaInitializer ?? 'zeros';
    this.sharedAxes = [...(args.sharedAxes ?? [])];
    if (this.sharedAxes.some((a) => !Number.isInteger(a) || a < 1)) fail(this.name, `sharedAxes count from 1, got ${JSON.stringify(args.sharedAxes)}`);
  }
  override build(inputShape: readonly number[], device: string): void {
    if (this.sharedAxes.some((a) => a > inputShape.length)) fail(this.name, `sharedAxes ${JSON.stringify(this.sharedAxes)} exceed the per-sample rank ${inputShape.length}`);
    this.addWeight('alpha', initialize(this.init, inputShape.map((d, i) => (this.sharedAxes.includes(i + 1) ? 1 : d)), device));
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape]; }
  forward(x: Tensor): Tensor {
    return applyExpr(this.name, E.where(E.binary('gt', E.input(0), 0), E.input(0), E.mul(E.input(1), E.input(0))), [x, this.weight('alpha')]);
  }
}

/** x for x > 0, alpha * x otherwise (alpha 0.3, Keras's default for the layer). */
export class LeakyReLU extends Layer {
  static override readonly options = ['alpha'];
  readonly alpha: number;
  constructor(args: LayerArgs & { alpha?: number } = {}) {
    super('leaky_re_lu', args);
    this.alpha = args.alpha ?? 0.3;
    if (!Number.isFinite(this.alpha)) fail(this.name, `alpha must be a finite number, got ${this.alpha}`);
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape]; }
  forward(x: Tensor): Tensor { return leakyRelu(x, this.alpha); }
}
