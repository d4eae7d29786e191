// Embedding: integer ids -> learned vectors.
import { fail } from '../../core/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { cast } from '../../ops/arith.js';
import * as E from '../../core/expr.js';
import { checkBool } from '../../core/validate.js';
import { applyExpr } from '../../ops/apply.js';
import { noGrad } from '../../tensor/autograd.js';
import { gather } from '../../ops/indexing.js';
import { rand } from '../../ops/random.js';
import { Layer, type LayerArgs } from '../layer.js';

export class Embedding extends Layer {
  static override readonly options = ['inputDim', 'outputDim', 'maskZero'];
  readonly inputDim: number;
  readonly outputDim: number;
  /** id 0 is padding: the layers after see a mask and skip those steps (Keras's mask_zero) */
  readonly maskZero: boolean;
  constructor(args: LayerArgs & { inputDim: number; outputDim: number; maskZero?: boolean }) {
    super('embedding', args);
    if (!Number.isInteger(args.inputDim) || args.inputDim <= 0 || !Number.isInteger(args.outputDim) || args.outputDim <= 0) {
      fail('embedding', `inputDim and outputDim must be positive integers, got ${args.inputDim}, ${args.outputDim}`);
    }
    this.inputDim = args.inputDim;
    this.outputDim = args.outputDim;
    this.maskZero = checkBool(this.name, 'maskZero', args.maskZero ?? false);
  }
  /** With maskZero, 1 where the id is not 0 ([batch, time]), as float32. */
  override computeMask(x: Tensor, mask: Tensor | null): Tensor | null {
    if (!this.maskZero) return super.computeMask(x, mask);
    return noGrad(() => applyExpr(this.name, E.cast(E.binary('ne', E.input(0, x.dtype), 0), 'float32'), [x]));
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
