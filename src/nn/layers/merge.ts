// Merge layers of the functional API: add, subtract, multiply, average, maximum, minimum (one
// shape for every input), concatenate (along an axis) and dot (products summed along axes).
import { fail } from '../../core/errors.js';
import { checkInt, shown } from '../../core/validate.js';
import { add, div, maximum, minimum, mul, sub } from '../../ops/arith.js';
import { concat } from '../../ops/join.js';
import { matmul } from '../../ops/matmul.js';
import { reshape, transpose } from '../../ops/views.js';
import { Tensor } from '../../tensor/tensor.js';
import { Layer, type LayerArgs } from '../layer.js';
import { SymbolicTensor, isSymbolic } from '../symbolic.js';

const shapeText = (s: readonly number[]) => `[batch, ${s.join(', ')}]`;

/** A layer over a list of inputs; calling it on one tensor is an error. */
export abstract class Merge extends Layer {
  /** the per-sample shapes of every input of the current call, for a build that needs more than the first */
  protected callShapes: readonly (readonly number[])[] = [];
  /** Per-sample output shape for the inputs' per-sample shapes (checked). */
  abstract outputShapeOf(shapes: readonly (readonly number[])[]): number[];
  protected abstract merge(xs: readonly Tensor[]): Tensor;

  override apply(x: Tensor): Tensor;
  override apply(x: SymbolicTensor): SymbolicTensor;
  override apply(xs: readonly Tensor[]): Tensor;
  override apply(xs: readonly SymbolicTensor[]): SymbolicTensor;
  override apply(xs: Tensor | SymbolicTensor | readonly Tensor[] | readonly SymbolicTensor[]): Tensor | SymbolicTensor {
    if (!Array.isArray(xs) || xs.length < 2) fail(this.name, `takes a list of at least two inputs, got ${Array.isArray(xs) ? `a list of ${xs.length}` : shown(xs)}`);
    if (isSymbolic(xs)) return this.applySymbolic(xs);
    const list = xs as readonly Tensor[];
    list.forEach((t, i) => { if (!(t instanceof Tensor)) fail(this.name, `input ${i + 1} is not a Tensor, got ${shown(t)}`); });
    const devices = new Set(list.map((t) => t.device));
    if (devices.size > 1) fail(this.name, `inputs are on different devices (${[...devices].join(', ')}); move them to one`);
    this.callShapes = list.map((t) => t.shape.slice(1));
    this.outputShapeOf(this.callShapes);
    this.ensureBuilt(list[0]!.shape.slice(1), list[0]!.device);
    return this.merge(list);
  }

  protected override applySymbolic(inputs: readonly SymbolicTensor[]): SymbolicTensor {
    this.callShapes = inputs.map((t) => t.sampleShape);
    const shape = this.outputShapeOf(this.callShapes);
    this.ensureBuilt(inputs[0]!.sampleShape);
    return new SymbolicTensor(shape, 'float32', { layer: this, inputs, outputs: [] }, `${this.name}/output_${this.nextCall()}`);
  }

  /** Passes a mask on only when every input carries the same one, and the layer keeps the time axis. */
  override callGraph(inputs: readonly Tensor[], masks: readonly (Tensor | null)[]): { outputs: Tensor[]; mask: Tensor | null } {
    const mask = masks[0] ?? null;
    if (masks.some((m) => (m ?? null) !== mask)) fail(this.name, 'its inputs carry different masks of padded steps (or only some do); merge sequences from the same embedding with maskZero');
    const y = this.apply(inputs);
    return { outputs: [y], mask: this.computeMask(inputs[0]!, mask) };
  }

  computeOutputShape(inputShape: readonly number[]): number[] {
    return fail(this.name, `a merge layer takes a list of inputs; got one of shape ${shapeText(inputShape)}`);
  }
  forward(_x: Tensor): Tensor { return fail(this.name, 'a merge layer takes a list of inputs'); }
}

/** Merges of inputs that all have one shape. */
abstract class Elementwise extends Merge {
  static override readonly options = [];
  static override readonly passesMask = true;
  outputShapeOf(shapes: readonly (readonly number[])[]): number[] {
    const first = shapes[0]!;
    shapes.forEach((s, i) => {
      if (s.length !== first.length || s.some((d, k) => d !== first[k])) fail(this.name, `inputs must have one shape: input 1 is ${shapeText(first)}, input ${i + 1} is ${shapeText(s)}`);
    });
    return [...first];
  }
}

export class Add extends Elementwise {
  constructor(args: LayerArgs = {}) { super('add', args); }
  protected merge(xs: readonly Tensor[]): Tensor { return xs.slice(1).reduce((a, b) => add(a, b), xs[0]!); }
}

export class Subtract extends Elementwise {
  constructor(args: LayerArgs = {}) { super('subtract', args); }
  override outputShapeOf(shapes: readonly (readonly number[])[]): number[] {
    if (shapes.length !== 2) fail(this.name, `takes exactly two inputs, got ${shapes.length}`);
    return super.outputShapeOf(shapes);
  }
  protected merge(xs: readonly Tensor[]): Tensor { return sub(xs[0]!, xs[1]!); }
}

export class Multiply extends Elementwise {
  constructor(args: LayerArgs = {}) { super('multiply', args); }
  protected merge(xs: readonly Tensor[]): Tensor { return xs.slice(1).reduce((a, b) => mul(a, b), xs[0]!); }
}

export class Average extends Elementwise {
  constructor(args: LayerArgs = {}) { super('average', args); }
  protected merge(xs: readonly Tensor[]): Tensor { return div(xs.slice(1).reduce((a, b) => add(a, b), xs[0]!), xs.length); }
}

export class Maximum extends Elementwise {
  constructor(args: LayerArgs = {}) { super('maximum', args); }
  protected merge(xs: readonly Tensor[]): Tensor { return xs.slice(1).reduce((a, b) => maximum(a, b), xs[0]!); }
}

export class Minimum extends Elementwise {
  constructor(args: LayerArgs = {}) { super('minimum', args); }
  protected merge(xs: readonly Tensor[]): Tensor { return xs.slice(1).reduce((a, b) => minimum(a, b), xs[0]!); }
}

/** Joins inputs along `axis` of the batched tensor (default -1, the last); other sizes must agree. */
export class Concatenate extends Merge {
  static override readonly options = ['axis'];
  readonly axis: number;
  constructor(args: LayerArgs & { axis?: number } = {}) {
    super('concatenate', args);
    this.axis = checkInt(this.name, 'axis', args.axis ?? -1);
    if (this.axis === 0) fail(this.name, 'axis 0 is the batch dimension; concatenate along a sample axis (1 or more, or -1)');
  }
  /** The axis within one sample. */
  private sampleAxis(rank: number): number {
    const a = this.axis < 0 ? rank + 1 + this.axis : this.axis;
    if (a < 1 || a > rank) fail(this.name, `axis ${this.axis} is outside inputs of rank ${rank + 1}`);
    return a - 1;
  }
  outputShapeOf(shapes: readonly (readonly number[])[]): number[] {
    const first = shapes[0]!, a = this.sampleAxis(first.length);
    shapes.forEach((s, i) => {
      if (s.length !== first.length || s.some((d, k) => k !== a && d !== first[k])) {
        fail(this.name, `inputs must agree except along axis ${this.axis}: input 1 is ${shapeText(first)}, input ${i + 1} is ${shapeText(s)}`);
      }
    });
    return first.map((d, k) => (k === a ? shapes.reduce((n, s) => n + s[k]!, 0) : d));
  }
  protected merge(xs: readonly Tensor[]): Tensor { return concat(xs, this.sampleAxis(xs[0]!.rank - 1) + 1); }
}

/**
 * Dot products of two inputs along `axes` (Keras's Dot): [b, n] . [b, n] -> [b, 1]; for rank 3,
 * [b, m, k] . [b, n, k] with axes [2, 2] -> [b, m, n]. `normalize` takes cosine similarities.
 */
export class Dot extends Merge {
  static override readonly options = ['axes', 'normalize'];
  readonly axes: [number, number];
  readonly normalize: boolean;
  constructor(args: LayerArgs & { axes: number | readonly [number, number]; normalize?: boolean }) {
    super('dot', args);
    const axes = typeof args.axes === 'number' ? [args.axes, args.axes] : args.axes;
    if (!Array.isArray(axes) || axes.length !== 2) fail(this.name, `axes must be a number or two numbers, got ${shown(args.axes)}`);
    this.axes = [checkInt(this.name, 'axes', axes[0]), checkInt(this.name, 'axes', axes[1])];
    this.normalize = args.normalize ?? false;
  }
  /** The contracted axis of each input, counted in the batched tensor (1 or 2). */
  private contracted(shapes: readonly (readonly number[])[]): [number, number] {
    if (shapes.length !== 2) fail(this.name, `takes exactly two inputs, got ${shapes.length}`);
    const [a, b] = shapes as [readonly number[], readonly number[]];
    if (a.length !== b.length || a.length < 1 || a.length > 2) fail(this.name, `takes two inputs of rank 2 or 3 (with the batch), got ${shapeText(a)} and ${shapeText(b)}`);
    const axis = (x: number, rank: number) => {
      const r = x < 0 ? rank + 1 + x : x;
      if (r < 1 || r > rank) fail(this.name, `axes [${this.axes.join(', ')}] are outside inputs of rank ${rank + 1}`);
      return r;
    };
    const ax = [axis(this.axes[0], a.length), axis(this.axes[1], b.length)] as [number, number];
    if (a[ax[0] - 1] !== b[ax[1] - 1]) fail(this.name, `axes [${ax.join(', ')}] have sizes ${a[ax[0] - 1]} and ${b[ax[1] - 1]} (inputs ${shapeText(a)} and ${shapeText(b)})`);
    return ax;
  }
  outputShapeOf(shapes: readonly (readonly number[])[]): number[] {
    const [ax, bx] = this.contracted(shapes);
    const [a, b] = shapes as [readonly number[], readonly number[]];
    if (a.length === 1) return [1];
    return [a[2 - ax]!, b[2 - bx]!];
  }
  protected merge(xs: readonly Tensor[]): Tensor {
    let [a, b] = xs as [Tensor, Tensor];
    const [ax, bx] = this.contracted([a.shape.slice(1), b.shape.slice(1)]);
    // unit length along the contracted axes: the products are cosine similarities
    const unit = (t: Tensor, axis: number) => t.div(t.square().sum(axis, true).maximum(1e-12).sqrt());
    if (this.normalize) { a = unit(a, ax); b = unit(b, bx); }
    if (a.rank === 2) return reshape(matmul(reshape(a, [a.shape[0]!, 1, -1]), reshape(b, [b.shape[0]!, -1, 1])), [a.shape[0]!, 1]);
    // [b, m, k] @ [b, k, n]: move the contracted axes into place
    const left = ax === 2 ? a : transpose(a, [0, 2, 1]);
    const right = bx === 1 ? b : transpose(b, [0, 2, 1]);
    return matmul(left, right);
  }
}
