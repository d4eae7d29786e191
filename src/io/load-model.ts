// tsr.loadModel(dir): rebuilds a model saved by model.save(), checking every field of
// model.json before anything is built or allocated.
import { withDevice, getDefaultDevice } from '../backends/registry.js';
import { TesseraError, fail } from '../core/errors.js';
import { requireNode } from '../core/platform.js';

const join = (dir: string, file: string) => requireNode('path', 'loadModel').join(dir, file);
import { setRandomState } from '../ops/random.js';
import { optimizerFromConfig } from '../optim/serial.js';
import { LAYER_CLASSES } from '../nn/registry.js';
import { lossFromDescription } from '../train/losses.js';
import { resolveMetric } from '../train/metrics.js';
import { Sequential } from '../train/sequential.js';
import { Functional, callLayer } from '../train/functional.js';
import type { AnyModel } from '../train/model.js';
import type { Layer } from '../nn/layer.js';
import { SymbolicTensor, input } from '../nn/symbolic.js';
import { type FunctionalConfig, GENERATION_FILE, type LayerEntry, MODEL_JSON, type ModelFile, type OutputTrainingConfig, type TrainingConfig } from './model-dir.js';
import type { Description } from '../core/described.js';
import { type NamedArray, loadSafetensors } from './safetensors.js';
import { applyWeights, inTreeOrder } from './weights.js';

export interface LoadOptions {
  /** device for the weights (default: the default device) */
  device?: string;
  /** also restore the global random generator's position saved with the model (exact resume) */
  restoreRandomState?: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Checks model.json's structure; the message names the file and the field. */
function validate(raw: unknown, path: string): ModelFile {
  const bad = (detail: string): never => { throw new TesseraError('loadModel', `${path}: ${detail}`); };
  if (!isObject(raw)) bad('not a JSON object');
  const f = raw as Record<string, unknown>;
  if (f['format'] !== 'tessera-model') bad(`format is ${JSON.stringify(f['format'])}, expected "tessera-model"`);
  if (f['version'] !== 1) bad(`version ${JSON.stringify(f['version'])} is not supported (this tessera reads version 1)`);
  // file names must be plain names in this folder, of the form save() writes
  const fileName = (v: unknown, kind: string) => (typeof v === 'string' && GENERATION_FILE.exec(v)?.[1] === kind ? v : bad(`${kind} file name ${JSON.stringify(v)} is not of the form ${kind}-N.safetensors`));
  fileName(f['weights'], 'weights');
  const arch = f['architecture'];
  if (!isObject(arch) || (arch['class'] !== 'Sequential' && arch['class'] !== 'Functional')) bad('architecture.class must be "Sequential" or "Functional"');
  const a = arch as Record<string, unknown>;
  if (typeof a['name'] !== 'string') bad('architecture.name must be a string');
  const positive = (v: unknown) => Array.isArray(v) && v.every((d) => isCount(d) && d > 0);
  if (a['class'] === 'Sequential' && a['inputShape'] !== null && !positive(a['inputShape'])) bad(`architecture.inputShape ${JSON.stringify(a['inputShape'])} must be null or positive integers`);
  if (!Array.isArray(a['layers']) || (a['class'] === 'Sequential' && a['layers'].length === 0)) bad('architecture.layers must be a non-empty array');
  (a['layers'] as unknown[]).forEach((l, i) => {
    if (!isObject(l) || typeof l['class'] !== 'string' || !isObject(l['config'])) bad(`architecture.layers[${i}] must be {class, config}`);
    const cls = (l as Record<string, unknown>)['class'] as string;
    if (!Object.hasOwn(LAYER_CLASSES, cls)) bad(`architecture.layers[${i}] has unknown class '${cls}' (known: ${Object.keys(LAYER_CLASSES).join(', ')})`);
  });
  if (a['class'] === 'Functional') {
    const names = (v: unknown) => Array.isArray(v) && v.every((n) => typeof n === 'string');
    if (!Array.isArray(a['inputs']) || !a['inputs'].every((i) => isObject(i) && typeof i['name'] === 'string' && positive(i['shape']) && typeof i['dtype'] === 'string')) bad('architecture.inputs must be a list of {name, shape, dtype}');
    if (!Array.isArray(a['calls']) || !a['calls'].every((c) => isObject(c) && typeof c['layer'] === 'string' && names(c['inputs']) && (typeof c['output'] === 'string' || names(c['output'])))) bad('architecture.calls must be a list of {layer, inputs, output}');
    if (!names(a['outputs']) || (a['outputs'] as unknown[]).length === 0) bad('architecture.outputs must be a non-empty list of tensor names');
  }
  if (f['training'] !== null && !isObject(f['training'])) bad('training must be null or an object');
  if (isObject(f['training'])) {
    const t = f['training'];
    if (t['outputs'] === undefined) {
      if (!Array.isArray(t['metrics'])) bad('training.metrics must be an array');
    } else if (!Array.isArray(t['outputs']) || !t['outputs'].every((o) => isObject(o) && typeof o['name'] === 'string' && typeof o['weight'] === 'number' && Array.isArray(o['metrics']))) {
      bad('training.outputs must be a list of {name, loss, weight, metrics}');
    }
  }
  const os = f['optimizerState'];
  if (os !== null && !(isObject(os) && isCount(os['iterations']))) bad('optimizerState must be null or {file, iterations}');
  if (isObject(os)) fileName(os['file'], 'optimizer');
  if (!isCount(f['epochsTrained'])) bad('epochsTrained must be a non-negative integer');
  if (!isObject(f['random']) || !isCount(f['random']['seed']) || !isCount(f['random']['counter'])) bad('random must be {seed, counter}');
  if (!isObject(f['layerState']) || !Object.values(f['layerState']).every((st) => isObject(st) && Object.values(st).every(isCount))) bad('layerState must map layer names to {counter: count}');
  return raw as unknown as ModelFile;
}

async function readModelFile(dir: string): Promise<ModelFile> {
  const path = join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await requireNode('fs/promises', 'loadModel').readFile(path, 'utf8');
  } catch (e) {
    throw new TesseraError('loadModel', `${path}: cannot read (${(e as Error).message}); is ${dir} a folder written by model.save()?`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TesseraError('loadModel', `${path}: not valid JSON (${(e as Error).message})`);
  }
  return validate(raw, path);
}

/**
 * Loads a model saved with model.save(): architecture, weights, and (when saved) the
 * training config and optimizer state, so fit() continues where it stopped.
 * @example const model = await tsr.loadModel('checkpoints/run1');
 */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<Sequential | Functional> {
  const { file, weights, optimizerState } = await readGeneration(dir);
  const path = join(dir, MODEL_JSON);
  const device = opts.device ?? getDefaultDevice();
  const model = inFile(path, () => withDevice(device, () => {
    const arch = file.architecture;
    const layers = arch.layers.map(fromEntry);
    if (arch.class === 'Functional') return rebuildFunctional(arch, layers, path);
    const m = new Sequential(layers, { name: arch.name });
    if (!m.isBuilt) {
      if (!arch.inputShape) throw new TesseraError('loadModel', `${join(dir, MODEL_JSON)}: the architecture has no input shape, so its weights cannot be built`);
      m.ensureBuilt(arch.inputShape);
    }
    return m;
  }));
  try {
    applyWeights(model, weights, join(dir, file.weights));
    const t = file.training;
    const outputs = t ? trainingOutputs(t) : [];
    if (t?.optimizer && outputs.length && outputs.every((o) => o.loss)) {
      inFile(path, () => model.compile({
        optimizer: optimizerFromConfig(t.optimizer!),
        loss: outputs.map((o) => lossFromDescription(o.loss!)),
        lossWeights: outputs.map((o) => o.weight),
        metrics: outputs.map((o) => o.metrics.map((name) => resolveMetric(String(name)))),
      }));
      if (file.optimizerState && optimizerState) restoreOptimizer(model, optimizerState, join(dir, file.optimizerState.file), file.optimizerState.iterations);
    }
    model.epochsTrained = file.epochsTrained;
    for (const layer of model.children()) {
      const saved = file.layerState[layer.name];
      if (saved) inFile(path, () => layer.restoreHostState(saved));
    }
    if (opts.restoreRandomState) setRandomState(file.random);
    return model;
  } catch (e) {
    model.optimizer?.dispose();
    model.dispose();
    throw e;
  }
}

/** A layer from its saved { class, config }; options that are saved layers themselves (a wrapper's inner layer) are made first. */
function fromEntry(entry: LayerEntry): Layer {
  const isEntry = (v: unknown): v is LayerEntry => isObject(v) && typeof v['class'] === 'string' && Object.hasOwn(LAYER_CLASSES, v['class']) && isObject(v['config']);
  const config = Object.fromEntries(Object.entries(entry.config).map(([k, v]) => [k, isEntry(v) ? fromEntry(v) : v]));
  return new LAYER_CLASSES[entry.class]!(config as never);
}

/** Calls the layers again on new inputs, in the saved order; tensors are matched by their saved names. */
function rebuildFunctional(arch: FunctionalConfig, layers: Layer[], path: string): Functional {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const tensors = new Map<string, SymbolicTensor>(arch.inputs.map((i) => [i.name, input({ shape: i.shape, dtype: i.dtype, name: i.name })]));
  const find = (name: string) => tensors.get(name) ?? fail('loadModel', `${path}: architecture names tensor '${name}' before any call makes it`);
  for (const c of arch.calls) {
    const layer = byName.get(c.layer) ?? fail('loadModel', `${path}: a call names layer '${c.layer}', which is not in architecture.layers`);
    const made = callLayer(layer, c.inputs.map(find)) as SymbolicTensor | SymbolicTensor[];
    const names = Array.isArray(c.output) ? c.output : [c.output];
    const outs = Array.isArray(made) ? made : [made];
    if (outs.length !== names.length) fail('loadModel', `${path}: a call of ${c.layer} names ${names.length} outputs, but the layer makes ${outs.length}`);
    names.forEach((n, i) => tensors.set(n, outs[i]!));
  }
  return new Functional({ name: arch.name, inputs: arch.inputs.map((i) => find(i.name)), outputs: arch.outputs.map(find) });
}

/** Runs fn; a TesseraError from it (a bad layer option, say) is reported against the file. */
function inFile<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TesseraError) throw new TesseraError('loadModel', `${path}: ${e.message}`);
    throw e;
  }
}

/**
 * model.json and the files it names, read as one consistent generation: when a concurrent save
 * commits a newer one and removes these files mid-read, read again (a few times).
 */
async function readGeneration(dir: string): Promise<{ file: ModelFile; weights: [string, NamedArray][]; optimizerState: Record<string, NamedArray> | null }> {
  for (let attempt = 0; ; attempt++) {
    const file = await readModelFile(dir);
    try {
      const saved = await loadSafetensors(join(dir, file.weights));
      const weights = inTreeOrder(saved.tensors, saved.metadata);
      const optimizerState = file.optimizerState ? (await loadSafetensors(join(dir, file.optimizerState.file))).tensors : null;
      return { file, weights, optimizerState };
    } catch (e) {
      const now = await readModelFile(dir).catch(() => null);
      if (attempt >= 4 || !now || now.generation === file.generation) throw e;
    }
  }
}

/** Each output's training config; files from before multi-output models name one loss and its metrics. */
function trainingOutputs(t: TrainingConfig): OutputTrainingConfig[] {
  if (t.outputs) return t.outputs;
  const legacy = t as unknown as { loss: Description | null; metrics: string[] };
  return [{ name: 'output', loss: legacy.loss, weight: 1, metrics: legacy.metrics }];
}

function restoreOptimizer(model: AnyModel, tensors: Record<string, NamedArray>, path: string, iterations: number): void {
  const opt = model.optimizer!;
  for (const [name, p] of model.namedTensors({ trainableOnly: true })) {
    const slots: Float32Array[] = [];
    for (let i = 0; `${name}/${i}` in tensors; i++) {
      const s = tensors[`${name}/${i}`]!;
      if (s.dtype !== 'float32' || s.shape.length !== p.shape.length || s.shape.some((d, k) => d !== p.shape[k])) {
        throw new TesseraError('loadModel', `${path}: optimizer state '${name}/${i}' is ${s.dtype} ${JSON.stringify(s.shape)}, the parameter is float32 ${JSON.stringify(p.shape)}`);
      }
      slots.push(s.data as Float32Array);
    }
    // no slots: the parameter had not been updated yet when saved
    if (slots.length) opt.restoreState(p, slots);
  }
  opt.iterations = iterations;
}
