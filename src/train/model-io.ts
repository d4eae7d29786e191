// A model's inputs and outputs as fit, evaluate and predict see them: data given as one tensor,
// a list (in the model's order) or an object keyed by input/output name, and compile's
// per-output losses, loss weights and metrics (Keras: one value applies to every output).
import { fail } from '../core/errors.js';
import { checkNumber, shown } from '../core/validate.js';
import { Tensor } from '../tensor/tensor.js';
import { type Loss, resolveLoss } from './losses.js';
import { type Metric, resolveMetric } from './metrics.js';

/** One tensor, a list of them (one per input or output) or an object keyed by their names. */
export type ModelData = Tensor | readonly Tensor[] | { readonly [name: string]: Tensor };

/** The tensors of `data`, one per name, in the order of `names`. */
export function dataList(op: string, what: string, data: unknown, names: readonly string[], kind: 'input' | 'output'): Tensor[] {
  const many = `the model has ${names.length} ${kind}s (${names.join(', ')})`;
  if (data instanceof Tensor) {
    if (names.length !== 1) fail(op, `${what} is one tensor but ${many}: pass a list or an object keyed by those names`);
    return [data];
  }
  if (Array.isArray(data)) {
    if (data.length !== names.length) fail(op, `${what} holds ${data.length} tensor${data.length === 1 ? '' : 's'} but ${names.length === 1 ? `the model has 1 ${kind}` : many}`);
    data.forEach((t, i) => { if (!(t instanceof Tensor)) fail(op, `${what}[${i}] must be a Tensor, got ${shown(t)}`); });
    return [...data] as Tensor[];
  }
  if (typeof data === 'object' && data !== null) {
    const given = data as Record<string, unknown>;
    const unknown = Object.keys(given).filter((k) => !names.includes(k));
    if (unknown.length) fail(op, `${what} names ${unknown.map((k) => `'${k}'`).join(', ')}, which ${unknown.length === 1 ? 'is not an' : 'are not'} ${kind} of the model (${names.join(', ')})`);
    return names.map((n) => {
      const t = given[n];
      if (!(t instanceof Tensor)) fail(op, `${what}['${n}'] must be a Tensor, got ${shown(t)}`);
      return t;
    });
  }
  return fail(op, `${what} must be a Tensor, a list of tensors or an object keyed by ${kind} name, got ${shown(data)}`);
}

/** What compile() gives an output: its loss, the loss's weight in the total, and its metrics. */
export interface OutputSpec {
  readonly name: string;
  readonly loss: Loss;
  readonly weight: number;
  readonly metrics: readonly Metric[];
}

export type PerOutput<T> = T | readonly T[] | { readonly [output: string]: T };

/** One value per output: given once (applies to all), as a list in output order, or keyed by output name (missing ones take `fallback`). */
function perOutput<T>(op: string, what: string, value: PerOutput<T> | undefined, names: readonly string[], isOne: (v: unknown) => boolean, fallback?: T): T[] {
  if (value === undefined) return names.map(() => fallback ?? fail(op, `${what} is required`));
  if (isOne(value)) return names.map(() => value as T);
  if (Array.isArray(value)) {
    if (value.length !== names.length) fail(op, `${what} lists ${value.length} values but the model has ${names.length} outputs (${names.join(', ')})`);
    return value as T[];
  }
  if (typeof value === 'object' && value !== null) {
    const given = value as Record<string, T>;
    const unknown = Object.keys(given).filter((k) => !names.includes(k));
    if (unknown.length) fail(op, `${what} names ${unknown.map((k) => `'${k}'`).join(', ')}, not an output of the model (${names.join(', ')})`);
    return names.map((n) => given[n] ?? fallback ?? fail(op, `${what} has no entry for output '${n}' (outputs: ${names.join(', ')})`));
  }
  return fail(op, `${what} must be one value, a list with one per output, or an object keyed by output name, got ${shown(value)}`);
}

const isLoss = (v: unknown) => typeof v === 'string' || typeof v === 'function';
const isNumber = (v: unknown) => typeof v === 'number';
const isMetricList = (v: unknown) => Array.isArray(v) && v.every((m) => typeof m === 'string' || (typeof m === 'object' && m !== null && 'batch' in m));

export function outputSpecs(
  names: readonly string[],
  loss: PerOutput<Loss | string>,
  lossWeights: PerOutput<number> | undefined,
  metrics: PerOutput<readonly (Metric | string)[]> | undefined,
): OutputSpec[] {
  const op = 'compile';
  const losses = perOutput(op, 'loss', loss, names, isLoss).map(resolveLoss);
  const weights = perOutput(op, 'lossWeights', lossWeights, names, isNumber, 1).map((w, i) => checkNumber(op, `lossWeights of ${names[i]}`, w, { min: 0 }));
  const lists = perOutput(op, 'metrics', metrics, names, isMetricList, []);
  return names.map((name, i) => ({ name, loss: losses[i]!, weight: weights[i]!, metrics: lists[i]!.map(resolveMetric) }));
}

/** A log's key: Keras names an output's loss and metrics after it when the model has several. */
export function logKey(specs: readonly OutputSpec[], i: number, key: string): string {
  return specs.length === 1 ? key : `${specs[i]!.name}_${key}`;
}
