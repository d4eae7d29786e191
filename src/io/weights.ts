// Saving and loading a layer's weights: by their names (e.g. dense_1.kernel) when they match,
// else by position in the layer tree, as Keras does, so two models of one architecture built
// in the same process (dense_1 vs dense_9) exchange weights.
import { fail, shapeStr } from '../core/errors.js';
import type { Layer } from '../nn/layer.js';
import type { Tensor } from '../tensor/tensor.js';
import { type NamedArray, loadSafetensors, saveSafetensors } from './safetensors.js';

/** Writes every weight and state tensor of `layer` to a safetensors file, atomically. */
export async function saveWeights(layer: Layer, path: string, metadata: Record<string, string> = {}): Promise<void> {
  const tensors: Record<string, NamedArray> = {};
  for (const [name, t] of layer.namedTensors()) {
    tensors[name] = { dtype: t.dtype, shape: [...t.shape], data: await t.data() };
  }
  // the file's tensors are stored sorted by name; the layer-tree order travels in the metadata
  await saveSafetensors(path, tensors, { format: 'tessera', [TREE_ORDER]: JSON.stringify(Object.keys(tensors)), ...metadata });
}

const TREE_ORDER = 'tessera.order';

/** The file's tensors in layer-tree order: as recorded by saveWeights, else by name with numbers compared as numbers. */
export function inTreeOrder(tensors: Record<string, NamedArray>, metadata: Record<string, string>): [string, NamedArray][] {
  let order: unknown = null;
  try {
    order = JSON.parse(metadata[TREE_ORDER] ?? 'null');
  } catch {
    order = null;
  }
  const names = Object.keys(tensors);
  const recorded = Array.isArray(order) && order.length === names.length && order.every((n) => typeof n === 'string' && n in tensors);
  const sorted = recorded ? (order as string[]) : [...names].sort(new Intl.Collator('en', { numeric: true }).compare);
  return sorted.map((n) => [n, tensors[n]!]);
}

/** Loads weights saved by saveWeights (or any safetensors file of the same structure). */
export async function loadWeights(layer: Layer, path: string): Promise<void> {
  const { tensors, metadata } = await loadSafetensors(path);
  applyWeights(layer, inTreeOrder(tensors, metadata), path);
}

/** The weight's own name within its layer: 'kernel' of 'dense_1.kernel'. */
const leaf = (name: string) => name.slice(name.lastIndexOf('.') + 1);
const describe = (name: string, a: { dtype: string; shape: readonly number[] }) => `${name} ${a.dtype} ${shapeStr(a.shape)}`;
const fits = (f: NamedArray, t: Tensor) => f.dtype === t.dtype && f.shape.length === t.shape.length && f.shape.every((d, i) => d === t.shape[i]);

/**
 * Writes the file's tensors (in tree order) into the layer's weights: by name when every name
 * matches; otherwise by position (same count, and each weight's kind, dtype and shape in
 * order). A mismatch lists both structures.
 */
export function applyWeights(layer: Layer, theirs: readonly [string, NamedArray][], source: string): void {
  const mine = layer.namedTensors();
  const tensors = Object.fromEntries(theirs);
  const byName = mine.every(([name]) => name in tensors) && theirs.length === mine.length;
  const pairs: [string, Tensor, string, NamedArray][] = byName
    ? mine.map(([name, t]) => [name, t, name, tensors[name]!])
    : theirs.length === mine.length && mine.every(([name], i) => leaf(name) === leaf(theirs[i]![0]))
      ? mine.map(([name, t], i) => [name, t, theirs[i]![0], theirs[i]![1]])
      : [];
  const wrong = pairs.filter(([, t, , f]) => !fits(f, t));
  // a model without weights (reshaping and pooling layers only) matches an empty file
  if (!mine.length && !theirs.length) return;
  if (!pairs.length || wrong.length) {
    const why = wrong.length
      ? wrong.map(([name, t, fileName, f]) => `${describe(fileName, f)} in the file for ${describe(name, t)}`).join('; ')
      : `the names differ and the structures do not line up (${theirs.length} tensors in the file, ${mine.length} in the model)`;
    fail('loadWeights', `${source} does not match the model: ${why}.\n  file:  ${theirs.map(([n, f]) => describe(n, f)).join(', ')}\n  model: ${mine.map(([n, t]) => describe(n, t)).join(', ')}`);
  }
  for (const [, t, , f] of pairs) t.backend.write(t.storageView.storage, f.data);
}
