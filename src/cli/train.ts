// `tessera train`: trains the Fashion-MNIST MLP or CNN and reports test accuracy and speed.
import { writeFile } from 'node:fs/promises';
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
import { sparseCategoricalCrossentropy } from '../train/losses.js';
import { buildModel, type ModelKind } from '../train/fashion-models.js';
import { loadModel } from '../io/load-model.js';
import type { Sequential } from '../train/sequential.js';
import { trainingChart } from './plot.js';

export const TRAIN_HELP = `tessera train — train a Fashion-MNIST classifier (the main job)

Options:
  --model mlp|cnn     the Keras tutorial MLP (default) or conv32-pool-conv64-pool-dense128-dense10
  --device D          auto (default: a hardware GPU if there is one, else cpu), cpu or webgpu
  --epochs N          passes over the training set (default 10 for mlp, 5 for cnn)
  --batch-size N      samples per step (default 32)
  --lr X              Adam learning rate (default 0.001)
  --data DIR          folder with the four Fashion-MNIST IDX files (else $TESSERA_DATA,
                      /usr/share/datasets/fashion-mnist, then the embedded sample)
  --seed N            seed for weights and shuffling (default 0)
  --validation-split F  hold out this fraction of the training data for validation; by default
                      (0) training uses all of it and the test set draws the validation curve,
                      as in the Keras tutorial
  --plot FILE.svg     write loss/accuracy curves per epoch
  --save DIR          save the trained model with its optimizer state (DIR/model.json and
                      safetensors files, see tsr.loadModel) and the run's results (DIR/train.json)
  --resume DIR        continue training a model saved with --save: its weights, optimizer
                      state and random-generator position; --epochs then counts the extra
                      epochs, and the result equals one uninterrupted run
  --json              print one JSON object with the results as the last line
  --verbose 0|1|2     progress display (default 1)
  --profile           print where training time went: per op, device time and calls
  --log-device-placement  print each op with the device it runs on`;

export async function train(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'mlp' }, device: { type: 'string', default: 'auto' },
      epochs: { type: 'string' }, 'batch-size': { type: 'string', default: '32' }, lr: { type: 'string', default: '0.001' },
      data: { type: 'string' }, seed: { type: 'string', default: '0' }, 'validation-split': { type: 'string', default: '0' },
      plot: { type: 'string' }, save: { type: 'string' }, resume: { type: 'string' }, json: { type: 'boolean', default: false }, verbose: { type: 'string', default: '1' },
      profile: { type: 'boolean', default: false }, 'log-device-placement': { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) { console.log(TRAIN_HELP); return 0; }
  const kind = values.model as ModelKind;
  if (kind !== 'mlp' && kind !== 'cnn') fail('train', `--model must be mlp or cnn, got '${values.model}'`);
  const num = (name: string, v: string | undefined, int: boolean) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || (int && !Number.isInteger(n))) fail('train', `--${name} expects ${int ? 'an integer' : 'a number'}, got '${v}'`);
    return n;
  };
  const epochs = num('epochs', values.epochs ?? (kind === 'mlp' ? '10' : '5'), true);
  const batchSize = num('batch-size', values['batch-size'], true);
  const lr = num('lr', values.lr, false);
  const seed = num('seed', values.seed, true);
  const verbose = num('verbose', values.verbose, true) as 0 | 1 | 2;
  const validationSplit = num('validation-split', values['validation-split'], false);
  const log = values.json ? (s: string) => process.stderr.write(s + '\n') : (s: string) => console.log(s);

  if (values['log-device-placement']) setLogDevicePlacement(true);
  if (values.device !== 'cpu') await initDevices();
  try {
    return await trainOn(values.device!, { kind, epochs, batchSize, lr, seed, verbose, validationSplit, values, log });
  } finally {
    // an open GPU device keeps Node's event loop alive
    await releaseDevices();
  }
}

interface TrainSettings {
  kind: ModelKind; epochs: number; batchSize: number; lr: number; seed: number; verbose: 0 | 1 | 2; validationSplit: number;
  values: { data?: string; plot?: string; save?: string; resume?: string; json?: boolean; profile?: boolean; 'validation-split'?: string };
  log: (s: string) => void;
}

async function trainOn(deviceName: string, { kind, epochs, batchSize, lr, seed, verbose, validationSplit, values, log }: TrainSettings): Promise<number> {
  const device = setDefaultDevice(deviceName);
  setSeed(seed);
  const data = await fashionMnist({ dir: values.data, device });
  log(`data: ${data.source} (${data.train.images.shape[0]} train / ${data.test.images.shape[0]} test images)`);
  if (!data.full) log(`note: this is the small embedded sample, so accuracy is below the full set's. ${hint('fashion-mnist')}`);
  log(`device: ${device}${deviceName === 'auto' ? ` (auto: ${autoDevice().why})` : ''}`);

  let model: Sequential;
  if (values.resume) {
    model = await loadModel(values.resume, { device, restoreRandomState: true });
    if (!model.optimizer) fail('train', `${values.resume} has no training config to resume (was it saved with --save?)`);
    log(`resuming: ${values.resume} after ${model.epochsTrained} epochs (its architecture, optimizer and learning rate)`);
  } else {
    model = buildModel(kind);
    model.compile({ optimizer: adam({ learningRate: lr }), loss: sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
  }
  const initialEpoch = model.epochsTrained;
  if (verbose > 0 && !values.json) model.summary(log);
  const started = performance.now();
  const fit = () => model.fit(data.train.images, data.train.labels, {
    epochs: initialEpoch + epochs, initialEpoch, batchSize, validationSplit, seed, verbose: values.json ? 0 : verbose,
    validationData: validationSplit > 0 ? undefined : [data.test.images, data.test.labels],
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
  const trained = data.train.images.shape[0]! - Math.floor(data.train.images.shape[0]! * validationSplit);
  const samplesPerSec = (trained * epochs) / seconds;
  const test = await model.evaluate(data.test.images, data.test.labels, { batchSize: 256 });
  log(`test accuracy: ${test['accuracy']!.toFixed(4)} | test loss: ${test['loss']!.toFixed(4)} | ${Math.round(samplesPerSec)} samples/s | ${seconds.toFixed(1)}s | device ${device}`);
  if (values.plot) {
    await writeFile(values.plot, trainingChart(history.history, `tessera ${kind} on Fashion-MNIST (${data.full ? 'full set' : 'embedded sample'}), ${device}, batch ${batchSize}, lr ${lr}`, validationSplit > 0 ? 'validation' : 'test set'));
    log(`plot: ${values.plot}`);
  }
  const result = {
    model: kind, device, epochs, batchSize, learningRate: lr, seed, fullDataset: data.full, dataSource: data.source,
    testAccuracy: test['accuracy'], testLoss: test['loss'], samplesPerSec, seconds, history: history.history,
  };
  if (values.save) {
    await model.save(values.save, { includeOptimizer: true });
    await writeFileAtomic(join(values.save, 'train.json'), [Buffer.from(JSON.stringify(result, null, 2) + '\n')]);
    log(`saved: ${values.save} (model.json, weights and optimizer state; train.json)`);
  }
  if (values.json) console.log(JSON.stringify(result));
  return 0;
}
