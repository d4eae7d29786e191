// Embedding: integer ids -> learned vectors.
import { fail } from '../../core/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { cast } from '../../ops/arith.js';
import { gather } from '../../ops/indexing.js';
import { rand } from '../../ops/random.js';
import { Layer, type LayerArgs } from '../layer.js';

export class Embedding extends Layer {
  static override readonly options = ['inputDim', 'outputDim'];
  readonly inputDim: number;
  readonly outputDim: number;
  constructor(args: LayerArgs & { inputDim: number; outputDim: number }) {
    super('embedding', args);
    if (!Number.isInteger(args.inputDim) || args.inputDim <= 0 || !Number.isInteger(args.outputDim) || args.outputDim <= 0) {
      fail('embedding', `inputDim and outputDim must be positive integers, got ${args.inputDim}, ${args.outputDim}`);
    }
    this.inputDim = args.inputDim;
    this.outputDim = args.outputDim;
  }
  override build(_inputShape: readonly number[], device: string): void {
    // Keras's default: uniform in [-0.05, 0.05]
    this.addWeight('embeddings', rand([this.inputDim, this.outputDim], { device, lo: -0.05, hi: 0.05 }));
  }
  computeOutputShape(inputShape: readonly number[]): number[] { return [...inputShape, this.outputDim]; }
  forward(x: Tensor): Tensor {
    return gather(this.weight('embeddings'), x.dtype === 'int32' ? x : cast(x, 'int32'), 0);
  }
}
