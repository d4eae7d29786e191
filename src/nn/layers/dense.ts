// Dense (fully connected): y = activation(x @ kernel + bias), bias and activation in one kernel.
import { fail, shapeStr } from '../../core/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type LayerActivation, biasActivation, checkActivation } from '../../ops/activations.js';
import { matmul } from '../../ops/matmul.js';
import { type Regularizer, checkRegularizer, penalty } from '../regularizers.js';
import { type Initializer, initialize } from '../initializers.js';
import { Layer, type LayerArgs } from '../layer.js';

export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: LayerActivation;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
  /** a penalty on the kernel added to the training loss: { l1?, l2? } */
  kernelRegularizer?: Regularizer;
}

export class Dense extends Layer {
  static override readonly passesMask = true;
  static override readonly options = ['units', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer'];
  readonly units: number;
  readonly activation: LayerActivation;
  readonly useBias: boolean;
  readonly kernelRegularizer?: Regularizer;
  private readonly kernelInit: Initializer;
  private readonly biasInit: Initializer;

  constructor(args: DenseArgs) {
    super('dense', args);
    if (!Number.isInteger(args.units) || args.units <= 0) fail('dense', `units must be a positive integer, got ${args.units}`);
    this.units = args.units;
    this.activation = checkActivation(args.activation ?? 'linear');
    this.useBias = args.useBias ?? true;
    this.kernelInit = args.kernelInitializer ?? 'glorotUniform';
    this.biasInit = args.biasInitializer ?? 'zeros';
    this.kernelRegularizer = checkRegularizer(this.name, 'kernelRegularizer', args.kernelRegularizer);
  }

  override build(inputShape: readonly number[], device: string): void {
    const inFeatures = inputShape[inputShape.length - 1];
    if (inFeatures === undefined) fail(this.name, 'dense needs inputs with at least one feature dimension');
    this.addWeight('kernel', initialize(this.kernelInit, [inFeatures, this.units], device));
    if (this.useBias) this.addWeight('bias', initialize(this.biasInit, [this.units], device));
  }

  computeOutputShape(inputShape: readonly number[]): number[] {
    return [...inputShape.slice(0, -1), this.units];
  }

  forward(x: Tensor): Tensor {
    const kernel = this.weight('kernel');
    if (x.shape[x.rank - 1] !== kernel.shape[0]) fail(this.name, `expected ${kernel.shape[0]} input features, got input of shape ${shapeStr(x.shape)}`);
    const y = matmul(x, kernel);
    return biasActivation(this.name, y, this.useBias ? this.weight('bias') : undefined, this.activation);
  }

  override regularization(): Tensor | null {
    return this.kernelRegularizer ? penalty(this.name, this.weight('kernel'), this.kernelRegularizer) : null;
  }
}
