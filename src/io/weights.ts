// Saving and loading a layer's weights by their stable names (e.g. dense_1.kernel).
import { fail, shapeStr } from '../core/errors.js';
import type { Layer } from '../nn/layer.js';
import { type NamedArray, loadSafetensors, saveSafetensors } from './safetensors.js';

/** Writes every weight and state tensor of `layer` to a safetensors file, atomically. */
export async function saveWeights(layer: Layer, path: string, metadata: Record<string, string> = {}): Promise<void> {
  const tensors: Record<string, NamedArray> = {};
  for (const [name, t] of layer.namedTensors()) {
    tensors[name] = { dtype: t.dtype, shape: [...t.shape], data: await t.data() };
  }
  await saveSafetensors(path, tensors, { format: 'tessera', ...metadata });
}

/** Loads weights saved by saveWeights; every name, shape and dtype must match exactly. */
export async function loadWeights(layer: Layer, path: string): Promise<void> {
  const { tensors } = await loadSafetensors(path);
  const mine = new Map(layer.namedTensors());
  const missing = [...mine.keys()].filter((k) => !(k in tensors));
  const extra = Object.keys(tensors).filter((k) => !mine.has(k));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing from the file: ${missing.join(', ')}`);
  if (extra.length) problems.push(`not in the model: ${extra.join(', ')}`);
  for (const [name, t] of mine) {
    const f = tensors[name];
    if (!f) continue;
    if (f.dtype !== t.dtype) problems.push(`${name}: dtype ${f.dtype} in the file, ${t.dtype} in the model`);
    else if (f.shape.length !== t.shape.length || f.shape.some((d, i) => d !== t.shape[i])) problems.push(`${name}: shape ${shapeStr(f.shape)} in the file, ${shapeStr(t.shape)} in the model`);
  }
  if (problems.length) fail('loadWeights', `${path} does not match the model: ${problems.join('; ')}`);
  for (const [name, t] of mine) t.backend.write(t.storageView.storage, tensors[name]!.data);
}
