// A saved model is a folder: model.json (architecture, training config, file names) and
// safetensors files for the weights and, optionally, the optimizer state. Each save writes new
// files under a new generation number and then replaces model.json atomically, so a crash at
// any moment leaves a model.json that names a complete, earlier set of files. The generation
// model.json named before stays on disk until the next commit, so a reader that has just read
// the old model.json still finds its files.
import { fail } from '../core/errors.js';
import { requireNode } from '../core/platform.js';
import { randomState } from '../ops/random.js';
import { type OptimizerConfig, optimizerConfig } from '../optim/serial.js';
import type { Description } from '../core/described.js';
import type { DType } from '../core/dtype.js';
import { lossDescription } from '../train/losses.js';
import type { AnyModel } from '../train/model.js';
import { TEMPORARY_FILE, makeFolder, writeFileAtomic } from './atomic.js';
import { type NamedArray, saveSafetensors } from './safetensors.js';
import { saveWeights } from './weights.js';

export interface SaveOptions {
  /** also save the optimizer's state (moments, step count) so training resumes exactly */
  includeOptimizer?: boolean;
}

export interface LayerEntry { class: string; config: Record<string, unknown> }
export interface SequentialConfig { class: 'Sequential'; name: string; inputShape: number[] | null; layers: LayerEntry[] }
/** A functional model: its inputs, its layers once each, and the calls in an order that runs (tensors by name). */
export interface FunctionalConfig {
  class: 'Functional';
  name: string;
  inputs: { name: string; shape: number[]; dtype: DType }[];
  layers: LayerEntry[];
  /** each call's output, or its outputs (a recurrent layer with returnState) */
  calls: { layer: string; inputs: string[]; output: string | string[] }[];
  outputs: string[];
}
export type ArchitectureConfig = SequentialConfig | FunctionalConfig;

/** What compile() gave one output. */
export interface OutputTrainingConfig {
  name: string;
  loss: Description | null;
  weight: number;
  metrics: string[];
}

export interface TrainingConfig {
  optimizer: OptimizerConfig | null;
  /** per output (files before multi-output models have `loss` and `metrics` instead) */
  outputs: OutputTrainingConfig[];
  /** why part of the config could not be saved (custom functions) */
  notes: string[];
}

export interface ModelFile {
  format: 'tessera-model';
  version: 1;
  generation: number;
  architecture: ArchitectureConfig;
  training: TrainingConfig | null;
  weights: string;
  optimizerState: { file: string; iterations: number } | null;
  epochsTrained: number;
  random: { seed: number; counter: number };
  /** per-layer host counters (dropout call counts), by layer name */
  layerState: Record<string, Record<string, number>>;
}

export const MODEL_JSON = 'model.json';
export const GENERATION_FILE = /^(weights|optimizer)-(\d+)\.safetensors$/;

export async function saveModel(model: AnyModel, dir: string, opts: SaveOptions = {}): Promise<void> {
  const architecture = model.architecture();
  if (!model.isBuilt) fail('save', `${model.name} has no weights yet: give the first layer inputShape, or call the model once`);
  const opt = model.optimizer;
  if (opts.includeOptimizer && !opt) fail('save', 'includeOptimizer needs a compiled model (call compile() first)');
  const { readdir, unlink } = requireNode('fs/promises', 'save'), { join } = requireNode('path', 'save');
  await makeFolder(dir).catch((e: Error) => fail('save', `${dir}: cannot create the folder (${(e as NodeJS.ErrnoException).code ?? e.message})`));
  const existing = await readdir(dir).catch(() => [] as string[]);
  const committed = await committedGeneration(join(dir, MODEL_JSON));
  await removeStaleTemporaries(dir, existing);
  const generation = 1 + Math.max(0, ...existing.map((f) => Number(GENERATION_FILE.exec(f)?.[2] ?? 0)));
  const weights = `weights-${generation}.safetensors`;
  await saveWeights(model, join(dir, weights), { generation: String(generation) });

  let optimizerState: ModelFile['optimizerState'] = null;
  if (opts.includeOptimizer && opt) {
    const tensors: Record<string, NamedArray> = {};
    for (const [name, p] of model.namedTensors({ trainableOnly: true })) {
      const slots = opt.stateOf(p) ?? [];
      for (let i = 0; i < slots.length; i++) tensors[`${name}/${i}`] = { dtype: 'float32', shape: [...p.shape], data: await slots[i]!.data() };
    }
    const file = `optimizer-${generation}.safetensors`;
    await saveSafetensors(join(dir, file), tensors, { format: 'tessera-optimizer' });
    optimizerState = { file, iterations: opt.iterations };
  }

  const compiled = model.compiledWith;
  const notes: string[] = [];
  let optimizer: OptimizerConfig | null = null;
  if (opt) {
    const c = optimizerConfig(opt);
    if ('reason' in c) notes.push(`optimizer not saved: ${c.reason}`);
    else optimizer = c;
  }
  const outputs = compiled.map((o) => ({ name: o.name, loss: lossDescription(o.loss), weight: o.weight, metrics: o.metrics.map((m) => m.name) }));
  if (outputs.some((o) => !o.loss)) notes.push('loss not saved: it is a custom function; compile() the loaded model again');
  const training: TrainingConfig | null = opt ? { optimizer, outputs, notes } : null;
  const file: ModelFile = {
    format: 'tessera-model', version: 1, generation, architecture, training, weights, optimizerState,
    epochsTrained: model.epochsTrained, random: randomState(),
    layerState: Object.fromEntries(model.children().map((l) => [l.name, l.hostState()] as const).filter(([, st]) => Object.keys(st).length)),
  };
  // the commit point: until this rename, model.json names the previous generation
  await writeFileAtomic(join(dir, MODEL_JSON), [new TextEncoder().encode(JSON.stringify(file, null, 2) + '\n')]);
  // older generations go, and files of saves that never committed; the one just replaced stays
  for (const f of existing) {
    const m = GENERATION_FILE.exec(f);
    if (m && Number(m[2]) !== generation && Number(m[2]) !== committed) await unlink(join(dir, f)).catch(() => undefined);
  }
}

/** The generation model.json names now (0 when there is none or it cannot be read). */
async function committedGeneration(path: string): Promise<number> {
  try {
    const g = (JSON.parse(await requireNode('fs/promises', 'save').readFile(path, 'utf8')) as { generation?: unknown }).generation;
    return typeof g === 'number' ? g : 0;
  } catch {
    return 0;
  }
}

/** Temporary files (see writeFileAtomic) left by a save whose process died: killed mid-save. */
async function removeStaleTemporaries(dir: string, files: readonly string[]): Promise<void> {
  const { unlink } = requireNode('fs/promises', 'save'), { join } = requireNode('path', 'save');
  for (const f of files) {
    const m = TEMPORARY_FILE.exec(f);
    if (m && !processAlive(Number(m[1]))) await unlink(join(dir, f)).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: alive, owned by someone else
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
