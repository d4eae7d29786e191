// Attention layers for Transformer encoders: multiHeadAttention (Keras's MultiHeadAttention on
// [batch, time, features] sequences, with an attention mask and a causal option) and
// positionalEmbedding (a learned vector per position, added to the input).
import { fail, shapeStr } from '../../core/errors.js';
import * as E from '../../core/expr.js';
import { checkBool, checkInt, checkNumber, shown } from '../../core/validate.js';
import { biasActivation } from '../../ops/activations.js';
import { applyExpr } from '../../ops/apply.js';
import { tensor } from '../../ops/creation.js';
import { matmul } from '../../ops/matmul.js';
import { softmax } from '../../ops/nn.js';
import { permute, reshape, slice, swapAxes, unsqueeze } from '../../ops/views.js';
import { Tensor } from '../../tensor/tensor.js';
import { type Initializer, initialize } from '../initializers.js';
import { Layer, type LayerArgs } from '../layer.js';
import { SymbolicTensor } from '../symbolic.js';
import { Merge } from './merge.js';
import { Dropout } from './noise.js';

export interface MultiHeadAttentionArgs extends LayerArgs {
  numHeads: number;
  /** size of each head's queries and keys */
  keyDim: number;
  /** size of each head's values (default keyDim) */
  valueDim?: number;
  /** dropout rate on the attention weights while training */
  dropout?: number;
  useBias?: boolean;
  /** features of the output (default: the query's) */
  outputShape?: number;
  /** each query position attends only to key positions at or before it (a decoder's mask) */
  useCausalMask?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
  seed?: number;
}

/**
 * Scaled dot-product attention over several heads. Called on one sequence (self-attention), or
 * on [query, value], [query, value, key], or [query, value, key, mask] where mask is
 * [batch, queryTime, keyTime] with 1 where a query may attend to a key and 0 where not.
 * Weights as Keras's: query/key/value kernels [features, heads, dim], biases [heads, dim], and
 * an output kernel [heads, valueDim, outputFeatures].
 */
export class MultiHeadAttention extends Merge {
  static override readonly options = ['numHeads', 'keyDim', 'valueDim', 'dropout', 'useBias', 'outputShape', 'useCausalMask', 'kernelInitializer', 'biasInitializer', 'seed'];
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly useBias: boolean;
  readonly outputFeatures?: number;
  readonly useCausalMask: boolean;
  private readonly kernelInit: Initializer;
  private readonly biasInit: Initializer;
  /** dropout on the attention weights (a sublayer, so its seed and call count are saved) */
  readonly attentionDropout: Dropout | null;

  constructor(args: MultiHeadAttentionArgs) {
    super('multi_head_attention', args);
    const op = this.name;
    if (typeof args !== 'object' || args === null) fail(op, `expected { numHeads, keyDim }, got ${shown(args)}`);
    this.numHeads = checkInt(op, 'numHeads', args.numHeads, { min: 1 });
    this.keyDim = checkInt(op, 'keyDim', args.keyDim, { min: 1 });
    this.valueDim = checkInt(op, 'valueDim', args.valueDim ?? this.keyDim, { min: 1 });
    this.useBias = checkBool(op, 'useBias', args.useBias ?? true);
    if (args.outputShape !== undefined) this.outputFeatures = checkInt(op, 'outputShape', args.outputShape, { min: 1 });
    this.useCausalMask = checkBool(op, 'useCausalMask', args.useCausalMask ?? false);
    this.kernelInit = args.kernelInitializer ?? 'glorotUniform';
    this.biasInit = args.biasInitializer ?? 'zeros';
    const rate = checkNumber(op, 'dropout', args.dropout ?? 0, { min: 0, max: 1, exclusiveMax: true });
    this.attentionDropout = rate > 0 ? new Dropout({ rate, seed: args.seed, name: `${this.name}_dropout` }) : null;
  }

  /** One sequence attends to itself. */
  override apply(x: Tensor): Tensor;
  override apply(x: SymbolicTensor): SymbolicTensor;
  override apply(xs: readonly Tensor[]): Tensor;
  override apply(xs: readonly SymbolicTensor[]): SymbolicTensor;
  override apply(xs: Tensor | SymbolicTensor | readonly Tensor[] | readonly SymbolicTensor[]): Tensor | SymbolicTensor {
    const list = Array.isArray(xs) ? xs : [xs];
    if (list.length > 4) fail(this.name, `takes query, or [query, value], [query, value, key] or [query, value, key, mask]; got a list of ${list.length}`);
    const call = list.length === 1 ? [list[0], list[0]] : list;
    return super.apply(call as readonly Tensor[]);
  }

  outputShapeOf(shapes: readonly (readonly number[])[]): number[] {
    const [q, v, k = v, mask] = shapes as (readonly number[])[];
    const named: [string, readonly number[]][] = [['query', q!], ['value', v!], ['key', k!]];
    for (const [name, s] of named) {
      if (s.length !== 2) fail(this.name, `${name} must be [batch, time, features], got per-sample shape [${s.join(', ')}]`);
    }
    if (k![0] !== v![0]) fail(this.name, `key and value must have the same length: key [batch, ${k!.join(', ')}], value [batch, ${v!.join(', ')}]`);
    if (mask && (mask.length !== 2 || mask[0] !== q![0] || mask[1] !== k![0])) {
      fail(this.name, `the mask must be [batch, ${q![0]}, ${k![0]}] (query time, key time), got [batch, ${mask.join(', ')}]`);
    }
    if (this.useCausalMask && q![0] !== k![0]) fail(this.name, `a causal mask needs query and key of one length, got ${q![0]} and ${k![0]}`);
    return [q![0]!, this.outputFeatures ?? q![1]!];
  }

  /** As the one layer of a sequential step: self-attention. */
  override computeOutputShape(inputShape: readonly number[]): number[] {
    return this.outputShapeOf([inputShape, inputShape]);
  }

  override forward(x: Tensor): Tensor { return this.merge([x, x]); }

  override getConfig(): Record<string, unknown> {
    // the drawn dropout seed is saved, so a loaded model draws the same masks
    return { ...super.getConfig(), ...(this.attentionDropout ? { seed: this.attentionDropout.getConfig()['seed'] } : {}) };
  }

  override build(inputShape: readonly number[]): void {
    // built by a call, every input's shape is known; built for a sequential model, it attends to itself
    const [q, v, k = v] = this.callShapes.length ? this.callShapes : [inputShape, inputShape];
    const device = this.device!;
    const projection = (name: string, features: number, dim: number) => {
      this.addWeight(`${name}Kernel`, reshape(initialize(this.kernelInit, [features, this.numHeads * dim], device), [features, this.numHeads, dim]));
      if (this.useBias) this.addWeight(`${name}Bias`, initialize(this.biasInit, [this.numHeads, dim], device));
    };
    projection('query', q![1]!, this.keyDim);
    projection('key', k![1]!, this.keyDim);
    projection('value', v![1]!, this.valueDim);
    const out = this.outputFeatures ?? q![1]!;
    this.addWeight('outputKernel', reshape(initialize(this.kernelInit, [this.numHeads * this.valueDim, out], device), [this.numHeads, this.valueDim, out]));
    if (this.useBias) this.addWeight('outputBias', initialize(this.biasInit, [out], device));
  }

  /** [batch, time, features] -> [batch, heads, time, dim] through the named projection. */
  private project(name: string, x: Tensor, dim: number): Tensor {
    const [batch, time, features] = x.shape as [number, number, number];
    const kernel = this.weight(`${name}Kernel`);
    if (features !== kernel.shape[0]) fail(this.name, `${name} has ${features} features but the layer was built for ${kernel.shape[0]} (input ${shapeStr(x.shape)})`);
    const y = matmul(x, reshape(kernel, [features, this.numHeads * dim]));
    const biased = biasActivation(this.name, y, this.useBias ? reshape(this.weight(`${name}Bias`), [this.numHeads * dim]) : undefined, 'linear');
    return permute(reshape(biased, [batch, time, this.numHeads, dim]), [0, 2, 1, 3]);
  }

  protected merge(xs: readonly Tensor[]): Tensor {
    const [query, value, key = value, mask] = xs as Tensor[];
    xs.forEach((t, i) => { if (t.rank !== 3) fail(this.name, `${['query', 'value', 'key', 'mask'][i]} must be [batch, time, ${i === 3 ? 'time' : 'features'}], got ${shapeStr(t.shape)}`); });
    const [batch, tq] = query!.shape as [number, number];
    const tk = key!.shape[1]!;
    // queries scaled by 1/sqrt(keyDim) before the product, as Keras does
    const q = applyExpr(this.name, E.mul(E.input(0), 1 / Math.sqrt(this.keyDim)), [this.project('query', query!, this.keyDim)]);
    const k = this.project('key', key!, this.keyDim), v = this.project('value', value!, this.valueDim);
    let scores = matmul(q, swapAxes(k, -1, -2)); // [batch, heads, tq, tk]
    if (mask) scores = applyExpr(this.name, E.add(E.input(0), E.mul(E.sub(1, E.cast(E.input(1, mask.dtype), 'float32')), -1e9)), [scores, unsqueeze(mask, 1)]);
    if (this.useCausalMask) scores = applyExpr(this.name, E.add(E.input(0), E.input(1)), [scores, causalBias(tq, tk, scores.device)]);
    let weights = softmax(scores, -1);
    if (this.attentionDropout) weights = this.attentionDropout.apply(weights);
    const context = permute(matmul(weights, v), [0, 2, 1, 3]); // [batch, tq, heads, valueDim]
    const out = this.outputFeatures ?? query!.shape[2]!;
    const y = matmul(reshape(context, [batch, tq, this.numHeads * this.valueDim]), reshape(this.weight('outputKernel'), [this.numHeads * this.valueDim, out]));
    return biasActivation(this.name, y, this.useBias ? this.weight('outputBias') : undefined, 'linear');
  }

  override hostState(): Record<string, number> { return this.attentionDropout?.hostState() ?? {}; }
  override restoreHostState(state: Record<string, number>): void { this.attentionDropout?.restoreHostState(state); }
}

/** 0 where key position j <= query position i, -1e9 after it. */
function causalBias(tq: number, tk: number, device: string): Tensor {
  const bias = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) for (let j = i + 1; j < tk; j++) bias[i * tk + j] = -1e9;
  return tensor(bias, { shape: [tq, tk], device });
}

/** Adds a learned vector to each position of [batch, time, features]: the position information a Transformer needs. */
export class PositionalEmbedding extends Layer {
  static override readonly passesMask = true;
  static override readonly options = ['sequenceLength', 'initializer'];
  readonly sequenceLength: number;
  private readonly init: Initializer;
  constructor(args: LayerArgs & { sequenceLength: number; initializer?: Initializer }) {
    super('positional_embedding', args);
    if (typeof args !== 'object' || args === null) fail(this.name, `expected { sequenceLength }, got ${shown(args)}`);
    this.sequenceLength = checkInt(this.name, 'sequenceLength', args.sequenceLength, { min: 1 });
    this.init = args.initializer ?? 'glorotUniform';
  }
  override build(inputShape: readonly number[], device: string): void {
    this.checkShape(inputShape);
    this.addWeight('embeddings', initialize(this.init, [this.sequenceLength, inputShape[1]!], device));
  }
  private checkShape(s: readonly number[]): void {
    if (s.length !== 2) fail(this.name, `expects [batch, time, features], got per-sample shape [${s.join(', ')}]`);
    if (s[0]! > this.sequenceLength) fail(this.name, `sequences of ${s[0]} positions are longer than sequenceLength ${this.sequenceLength}`);
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    this.checkShape(inputShape);
    return [...inputShape];
  }
  forward(x: Tensor): Tensor {
    if (x.rank !== 3) fail(this.name, `expects [batch, time, features], got ${shapeStr(x.shape)}`);
    this.checkShape(x.shape.slice(1));
    const e = this.weight('embeddings');
    const positions = x.shape[1] === this.sequenceLength ? e : slice(e, [[0, x.shape[1]!]]);
    return applyExpr(this.name, E.add(E.input(0), E.input(1)), [x, positions]);
  }
}
