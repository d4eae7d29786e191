// `tessera train`: trains the Fashion-MNIST MLP or CNN and reports test accuracy and speed.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { parseArgs } from 'node:util';
import { autoDevice, initDevices, releaseDevices, setDefaultDevice } from '../backends/registry.js';
import { setLogDevicePlacement } from '../backends/trace.js';
import { profile } from '../devices/profile.js';
import { fail } from '../core/errors.js';
import { fashionMnist, hint } from '../data/fashion-mnist.js';
import { setSeed } from '../ops/random.js';
import { adam } from '../optim/adam.js';
import { cosineDecay } from '../optim/schedules.js';
import { sparseCategoricalCrossentropy } from '../train/losses.js';
import { FASHION_MODELS, type FashionModel, MODEL_KINDS, type ModelKind, buildModel, kindOfLayers } from '../train/fashion-models.js';
import { loadModel } from '../io/load-model.js';
import { Functional } from '../train/functional.js';
import { trainingChart } from './plot.js';
import { checkOutputFile, checkSaveFolder } from './outputs.js';
import { launchInfo } from '../distributed/launcher.js';
import * as distributed from '../distributed/index.js';

export const TRAIN_HELP = `tessera train — train a Fashion-MNIST classifier (the main job)

Options:
  --model mlp|cnn|lstm|transformer  the Keras tutorial MLP (default),
                      conv32-pool-conv64-pool-dense128-dense10, an LSTM(128) reading each image as
                      28 rows of 28 pixels, or a Transformer encoder over 16 patches of 7x7 pixels
                      (2 blocks of 4-head attention and a GELU MLP, 64 features)
  --device D          auto (default: a hardware GPU or TPU if there is one, else cpu), cpu, webgpu,
                      cuda, or tpu / xla-cuda through a PJRT plugin
  --epochs N          passes over the training set (default 10 for mlp, 5 for the others)
  --batch-size N      samples per step (default 32; 64 for lstm)
  --lr X              Adam learning rate, the peak of a cosine schedule (default 0.001; 0.002 for lstm)
  --lr-schedule S     constant, or cosine: decaying to 0 over the run's steps (default constant
                      for mlp and cnn, cosine for lstm and transformer)
  --data DIR          folder with the four Fashion-MNIST IDX files (else $TESSERA_DATA,
                      /usr/share/datasets/fashion-mnist, then the embedded sample)
  --seed N            seed for weights and shuffling (default 0)
  --validation-split F  hold out this fraction of the training data for validation; by default
                      (0) training uses all of it and the test set draws the validation curve,
                      as in the Keras tutorial
  --plot FILE.svg     write loss/accuracy curves per epoch
  --save DIR          save the model with its optimizer state after every epoch (DIR/model.json
                      and safetensors files, see tsr.loadModel; a crash loses at most an epoch)
                      and the run's results at the end (DIR/train.json)
  --overwrite         let --save replace a model already saved in DIR
  --resume DIR        continue training a model saved with --save: its architecture, optimizer,
                      learning rate and its schedule, batch size, seed and random-generator position; --epochs
                      then counts the extra epochs, and the result equals one uninterrupted run
  --json              print one JSON object with the results as the last line
  --verbose 0|1|2     progress display (default 1)
  --profile           print where training time went: per op, device time and calls, and how
                      many steps were replayed from a capture
  --no-jit            run every op eagerly instead of capturing the training step once and
                      replaying it (slower; for comparison and debugging)
  --log-device-placement  print each op with the device it runs on
  -h, --help          this help`;

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A flag's number: plain decimal digits only ('', '0x2' and '1e400' are refused), within its range. */
function numberFlag(name: string, v: string, opts: { int?: boolean; min?: number; max?: number; below?: number; above?: number }): number {
  const n = Number(v);
  const what = `${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}${opts.above !== undefined ? ` > ${opts.above}` : ''}${opts.max !== undefined ? ` <= ${opts.max}` : ''}${opts.below !== undefined ? ` < ${opts.below}` : ''}`;
  const ok = (opts.int ? INTEGER : DECIMAL).test(v.trim()) && Number.isFinite(n)
    && (opts.min === undefined || n >= opts.min) && (opts.max === undefined || n <= opts.max)
    && (opts.below === undefined || n < opts.below) && (opts.above === undefined || n > opts.above);
  if (!ok) fail('train', `--${name} expects ${what}, got '${v}'`);
  return n;
}

/** What a --save folder's train.json recorded about the run that made it. */
interface SavedRun { model?: string; batchSize?: number; seed?: number; learningRate?: number }

async function savedRun(dir: string): Promise<SavedRun> {
  try {
    return JSON.parse(await readFile(join(dir, 'train.json'), 'utf8')) as SavedRun;
  } catch {
    return {};
  }
}

export async function train(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, device: { type: 'string', default: 'auto' },
      epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, 'lr-schedule': { type: 'string' },
      data: { type: 'string' }, seed: { type: 'string' }, 'validation-split': { type: 'string', default: '0' },
      plot: { type: 'string' }, save: { type: 'string' }, overwrite: { type: 'boolean', default: false }, resume: { type: 'string' },
      json: { type: 'boolean', default: false }, verbose: { type: 'string', default: '1' },
      profile: { type: 'boolean', default: false }, 'no-jit': { type: 'boolean', default: false }, 'log-device-placement': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) { console.log(TRAIN_HELP); return 0; }
  if (values.model !== undefined && !(MODEL_KINDS as string[]).includes(values.model)) fail('train', `--model must be ${MODEL_KINDS.join(', ')}, got '${values.model}'`);
  if (values.resume === '') fail('train', '--resume needs a folder name');
  const resumed: SavedRun = values.resume !== undefined ? await savedRun(values.resume) : {};
  const kind = (values.model ?? resumed.model ?? 'mlp') as ModelKind;
  const recipe = FASHION_MODELS[kind];
  const epochs = numberFlag('epochs', values.epochs ?? String(recipe.epochs), { int: true, min: 1 });
  const batchSize = numberFlag('batch-size', values['batch-size'] ?? String(resumed.batchSize ?? recipe.batchSize), { int: true, min: 1 });
  const lr = numberFlag('lr', values.lr ?? String(resumed.learningRate ?? recipe.learningRate), { above: 0 });
  const schedule = values['lr-schedule'] ?? recipe.schedule;
  if (schedule !== 'constant' && schedule !== 'cosine') fail('train', `--lr-schedule must be constant or cosine, got '${schedule}'`);
  if (values.resume !== undefined && values['lr-schedule'] !== undefined) fail('train', `--lr-schedule conflicts with --resume: the saved optimizer keeps its schedule; drop --lr-schedule`);
  const seed = numberFlag('seed', values.seed ?? String(resumed.seed ?? 0), { int: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  const verbose = numberFlag('verbose', values.verbose, { int: true, min: 0, max: 2 }) as 0 | 1 | 2;
  const validationSplit = numberFlag('validation-split', values['validation-split'], { min: 0, below: 1 });
  if (values.data === '') fail('train', '--data needs a folder name');
  // every output is checked before the first step, so no finished run is lost to a bad path
  if (values.save !== undefined) await checkSaveFolder(values.save, { resuming: values.resume, overwrite: values.overwrite });
  if (values.plot !== undefined) await checkOutputFile('--plot', values.plot);
  // in a data-parallel job (mpirun, srun) rank 0 speaks for all
  const job = launchInfo();
  const log = job.rank !== 0 ? () => undefined : values.json ? (s: string) => process.stderr.write(s + '\n') : (s: string) => console.log(s);

  if (values['log-device-placement']) setLogDevicePlacement(true);
  if (values.device !== 'cpu') await initDevices();
  try {
    return await trainOn(values.device!, { kind, epochs, batchSize, lr, schedule, seed, verbose, validationSplit, values, log, resumed });
  } finally {
    // an open GPU device keeps Node's event loop alive
    await releaseDevices();
    // a rank that leaves without MPI_Finalize fails the job
    distributed.shutdown();
  }
}

interface TrainSettings {
  kind: ModelKind; epochs: number; batchSize: number; lr: number; schedule: 'constant' | 'cosine'; seed: number; verbose: 0 | 1 | 2; validationSplit: number;
  /** what --resume's train.json recorded (empty without --resume) */
  resumed: SavedRun;
  values: { data?: string; plot?: string; save?: string; resume?: string; json?: boolean; profile?: boolean; 'no-jit'?: boolean; model?: string; lr?: string };
  log: (s: string) => void;
}

/** The kind of a saved Fashion-MNIST model, from its layers. */
function kindOf(model: FashionModel): ModelKind {
  return kindOfLayers(model.architecture().layers.map((l) => l.class));
}

/** Loads --resume DIR and rejects flags that contradict what it holds (they would be ignored). */
async function resume(dir: string, device: string, s: TrainSettings): Promise<FashionModel> {
  const model = await loadModel(dir, { device, restoreRandomState: true });
  if (model instanceof Functional && (model.inputs.length !== 1 || model.outputs.length !== 1)) fail('train', `${dir} holds a model of ${model.inputs.length} inputs and ${model.outputs.length} outputs; tessera train resumes its own Fashion-MNIST models`);
  if (!model.optimizer) fail('train', `${dir} has no training config to resume (was it saved with --save?)`);
  // the peak rate the run was started with (train.json), else the optimizer's current one
  const kind = kindOf(model), savedLr = s.resumed.learningRate ?? model.optimizer.learningRate;
  if (s.values.model !== undefined && s.values.model !== kind) fail('train', `--model ${s.values.model} conflicts with --resume ${dir}, which holds a ${kind}; drop --model`);
  if (s.values.lr !== undefined && s.lr !== savedLr) fail('train', `--lr ${s.values.lr} conflicts with --resume ${dir}, whose optimizer has learning rate ${savedLr}; drop --lr`);
  s.kind = kind;
  s.lr = savedLr;
  s.log(`resuming: ${dir}: ${kind} after ${model.epochsTrained} epochs, Adam learning rate ${savedLr}, batch size ${s.batchSize}, seed ${s.seed}`);
  return model;
}

async function trainOn(deviceName: string, settings: TrainSettings): Promise<number> {
  const { epochs, batchSize, seed, verbose, validationSplit, values, log } = settings;
  const device = setDefaultDevice(deviceName);
  setSeed(seed);
  // the data stays on the host; fit streams batches to the model's device
  const data = await fashionMnist({ dir: values.data });
  log(`data: ${data.source} (${data.train.images.shape[0]} train / ${data.test.images.shape[0]} test images)`);
  if (!data.full) log(`note: this is not the full Fashion-MNIST set, so accuracy is below the full set's. ${hint('fashion-mnist')}`);
  log(`device: ${device}${deviceName === 'auto' ? ` (auto: ${autoDevice().why})` : ''}`);
  const job = launchInfo();
  if (job.worldSize > 1) {
    const { mpi } = distributed.init();
    log(`job: ${job.worldSize} processes x ${device} (${job.launcher}, ${mpi!.version}), global batch ${batchSize * job.worldSize} (${batchSize} per process)`);
  }

  const trained = data.train.images.shape[0]! - Math.floor(data.train.images.shape[0]! * validationSplit);
  let model: FashionModel;
  if (values.resume) {
    model = await resume(values.resume, device, settings);
  } else {
    model = buildModel(settings.kind);
    const steps = epochs * Math.ceil(trained / batchSize);
    const learningRate = settings.schedule === 'cosine' ? cosineDecay(settings.lr, steps) : settings.lr;
    model.compile({ optimizer: adam({ learningRate }), loss: sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'], jit: !values['no-jit'] });
  }
  const { kind, lr } = settings;
  const initialEpoch = model.epochsTrained;
  if (verbose > 0 && !values.json) model.summary(log);
  const started = performance.now();
  // a checkpoint every epoch: Ctrl-C, a crash or a full disk loses at most one epoch
  const checkpoint = values.save && job.rank === 0 ? [{ onEpochEnd: () => model.save(values.save!, { includeOptimizer: true }) }] : [];
  const fit = () => model.fit(data.train.images, data.train.labels, {
    epochs: initialEpoch + epochs, initialEpoch, batchSize, validationSplit, seed, verbose: values.json ? 0 : verbose,
    validationData: validationSplit > 0 ? undefined : [data.test.images, data.test.labels], callbacks: checkpoint,
  });
  let history;
  if (values.profile) {
    const profiled = await profile(fit);
    history = profiled.result;
    log(`\nprofile of fit (${epochs} epochs):\n${profiled.report.format()}\n`);
  } else {
    history = await fit();
  }
  const seconds = (performance.now() - started) / 1000;
  const samplesPerSec = (trained * epochs) / seconds;
  const test = await model.evaluate(data.test.images, data.test.labels, { batchSize: 256 });
  log(`test accuracy: ${test['accuracy']!.toFixed(4)} | test loss: ${test['loss']!.toFixed(4)} | ${Math.round(samplesPerSec)} samples/s${job.worldSize > 1 ? ` (the whole job of ${job.worldSize} processes)` : ''} | ${seconds.toFixed(1)}s | device ${device}`);
  const result = {
    model: kind, device, epochs, epochsTrained: model.epochsTrained, batchSize, learningRate: lr, lrSchedule: values.resume ? null : settings.schedule, seed, fullDataset: data.full, dataSource: data.source,
    resumedFrom: values.resume ?? null, testAccuracy: test['accuracy'], testLoss: test['loss'], samplesPerSec, seconds, history: history.history,
  };
  if (job.rank !== 0) return 0;
  if (values.save) {
    await writeFileAtomic(join(values.save, 'train.json'), [Buffer.from(JSON.stringify(result, null, 2) + '\n')]);
    log(`saved: ${values.save} (model.json, weights and optimizer state after each epoch; train.json)`);
  }
  if (values.plot) {
    await writeFile(values.plot, trainingChart(history.history, `tessera ${kind} on Fashion-MNIST (${data.full ? 'full set' : 'embedded sample'}), ${device}, batch ${batchSize}, lr ${lr}${!values.resume && settings.schedule === 'cosine' ? ' (cosine)' : ''}`, validationSplit > 0 ? 'validation' : 'test set'));
    log(`plot: ${values.plot}`);
  }
  if (values.json) console.log(JSON.stringify(result));
  return 0;
}
