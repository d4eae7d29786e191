// Symbolic tensors of the functional API: tsr.input({ shape }) and what calling a layer on one
// returns. Each carries a per-sample shape and the layer call that made it; tsr.model({ inputs,
// outputs }) replays those calls on real tensors.
import { fail } from '../core/errors.js';
import { type DType } from '../core/dtype.js';
import { checkShape } from '../core/shape.js';
import { checkDType, checkOptions, shown } from '../core/validate.js';
import { uniqueName } from './names.js';
import type { Layer } from './layer.js';

/** One call of a layer in a functional graph: its inputs and its outputs, in order (a recurrent layer with returnState has several). */
export interface LayerCall { readonly layer: Layer; readonly inputs: readonly SymbolicTensor[]; readonly outputs: SymbolicTensor[] }

export class SymbolicTensor {
  constructor(
    /** shape of one sample (the batch dimension left out) */
    readonly sampleShape: readonly number[],
    readonly dtype: DType,
    /** the call that made it; null for a model input */
    readonly call: LayerCall | null,
    readonly name: string,
  ) {
    call?.outputs.push(this);
  }

  /** Keras's shape: the batch dimension is null. */
  get shape(): (number | null)[] { return [null, ...this.sampleShape]; }
  get rank(): number { return this.sampleShape.length + 1; }
  toString(): string { return `SymbolicTensor(${this.name}, shape=[null, ${this.sampleShape.join(', ')}], dtype=${this.dtype})`; }
}

export interface InputArgs {
  /** shape of one sample, without the batch dimension */
  shape: readonly number[];
  name?: string;
  dtype?: DType;
}

/** A model input for the functional API. @example const x = tsr.input({ shape: [784] }) */
export function input(args: InputArgs): SymbolicTensor {
  const op = 'input';
  if (typeof args !== 'object' || args === null) fail(op, `expected { shape }, got ${shown(args)}`);
  checkOptions(op, args, ['shape', 'name', 'dtype']);
  if (!Array.isArray(args.shape)) fail(op, `shape must be a list of sizes (one sample, no batch dimension), got ${shown(args.shape)}`);
  const shape = checkShape(op, args.shape);
  if (shape.some((d) => d === 0)) fail(op, `shape [${shape.join(', ')}] has a zero dimension`);
  if (args.name !== undefined && (typeof args.name !== 'string' || !args.name)) fail(op, `name must be a non-empty string, got ${shown(args.name)}`);
  return new SymbolicTensor(shape, checkDType(op, args.dtype ?? 'float32'), null, args.name ?? uniqueName('input'));
}

/** Whether a layer's argument is one symbolic tensor or a list of them (a functional-API call). */
export function isSymbolic(x: unknown): x is SymbolicTensor | readonly SymbolicTensor[] {
  return x instanceof SymbolicTensor || (Array.isArray(x) && x.length > 0 && x.every((t) => t instanceof SymbolicTensor));
}
