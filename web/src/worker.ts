// The page's Web Worker: it holds tessera, the data and the devices, and trains, verifies and
// times there, so the page's thread only draws. fit yields every 100 ms (onYield), which posts
// progress and lets a 'stop' message in.
import * as tsr from '../../src/index.js';
import { trainStepMs } from '../../src/devices/bench.js';
import { FASHION_MODELS, MODEL_KINDS, type ModelKind } from '../../src/train/fashion-models.js';
import { adapterReport } from './adapter.js';
import type { CompareRow, DeviceName, Failure, PageMessage, SampleGrid, TrainRequest, WorkerMessage } from './protocol.js';

const scope = self as unknown as { postMessage(m: WorkerMessage): void; onmessage: ((e: MessageEvent<PageMessage>) => void) | null };
const post = (m: WorkerMessage) => scope.postMessage(m);
// for the devtools console (pick this worker there): tessera itself
(globalThis as { tessera?: typeof tsr }).tessera = tsr;

/** Test images shown with their predictions after training. */
const GRID_IMAGES = 24;
/** Held out of the sample's training images to draw the validation curve. */
const VALIDATION_SPLIT = 0.1;

let data: tsr.datasets.ImageDataset | null = null;
let training: tsr.AnyModel | null = null;

function failure(message: string): Failure {
  if (/device was lost|lost or destroyed/.test(message)) return 'device-lost';
  if (/out of memory|exceeds the device's largest/.test(message)) return 'too-large';
  return 'other';
}

function failed(during: 'init' | 'train' | 'verify' | 'compare', device: DeviceName | null, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  post({ type: 'failed', during, device, failure: failure(message), message });
}

async function ready(): Promise<void> {
  await tsr.initDevices();
  const devices = await tsr.listDevices();
  const d = data!;
  post({
    type: 'ready', devices, adapter: await adapterReport(), models: MODEL_KINDS,
    data: { train: d.train.images.shape[0]!, test: d.test.images.shape[0]!, source: d.source },
  });
}

async function train(r: TrainRequest): Promise<void> {
  const d = data!, recipe = FASHION_MODELS[r.model as ModelKind];
  if (!recipe) throw new Error(`unknown model '${r.model}'`);
  await tsr.withDevice(r.device, async () => {
    tsr.setSeed(0);
    const model = recipe.build();
    training = model;
    const n = d.train.images.shape[0]!, trained = n - Math.floor(n * VALIDATION_SPLIT);
    const started = performance.now();
    let epochStarted = started, seen = 0;
    try {
      model.compile({ optimizer: tsr.optimizers.adam({ learningRate: recipe.learningRate }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
      const history = await model.fit(d.train.images, d.train.labels, {
        epochs: r.epochs, batchSize: r.batchSize, validationSplit: VALIDATION_SPLIT, verbose: 0, yieldEvery: 100,
        callbacks: {
          onEpochBegin: () => { epochStarted = performance.now(); },
          onYield: (epoch, batch, logs) => {
            const samples = Math.min(trained, (batch + 1) * r.batchSize);
            const done = seen + samples, sps = done / ((performance.now() - started) / 1000);
            post({ type: 'progress', progress: {
              epoch, epochs: r.epochs, samples, samplesPerEpoch: trained, samplesPerSec: sps,
              etaSec: (r.epochs * trained - done) / sps, loss: logs['loss'] ?? NaN, accuracy: logs['accuracy'] ?? NaN,
            } });
          },
          onEpochEnd: (epoch, logs) => {
            seen += trained;
            post({ type: 'epoch', epoch, logs: { ...logs, samplesPerSec: trained / ((performance.now() - epochStarted) / 1000) } });
          },
        },
      });
      const seconds = (performance.now() - started) / 1000;
      const test = await model.evaluate(d.test.images, d.test.labels, { batchSize: 256 });
      post({
        type: 'trained', device: r.device, testAccuracy: test['accuracy']!, testLoss: test['loss']!, seconds,
        samplesPerSec: (trained * history.epoch.length) / seconds, stopped: history.epoch.length < r.epochs, grid: await sampleGrid(model),
      });
    } finally {
      training = null;
      model.dispose();
    }
  });
}

async function sampleGrid(model: tsr.AnyModel): Promise<SampleGrid> {
  const d = data!;
  const images = tsr.slice(d.test.images, [[0, GRID_IMAGES]]);
  const labels = tsr.slice(d.test.labels, [[0, GRID_IMAGES]]);
  try {
    const scores = model.predict(images) as tsr.Tensor;
    const predicted = tsr.argmax(scores, -1);
    scores.dispose();
    const result = { pixels: Float32Array.from(await images.data()), labels: [...await labels.data()], predictions: [...await predicted.data()], classNames: [...d.classNames] };
    predicted.dispose();
    return result;
  } finally {
    images.dispose();
    labels.dispose();
  }
}

async function compare(model: string, batchSizes: number[], steps: number): Promise<void> {
  const rows: CompareRow[] = [];
  const time = async (device: DeviceName, batch: number) => {
    const ms = await trainStepMs(device, model as ModelKind, batch, { steps, warmupSteps: 3, repeats: 3, warmupMs: 300 });
    post({ type: 'compare-progress', line: `${model} batch ${batch} on ${device}: ${ms.toFixed(1)} ms per step` });
    return ms;
  };
  for (const batch of batchSizes) rows.push({ batch, cpuMs: await time('cpu', batch), webgpuMs: await time('webgpu', batch) });
  post({ type: 'compared', model, rows });
}

// one request at a time, in order; 'stop' acts at once on the run in progress
let queue: Promise<void> = Promise.resolve();
scope.onmessage = ({ data: m }) => {
  if (m.type === 'stop') {
    if (training) training.stopTraining = true;
    return;
  }
  queue = queue.then(async () => {
    switch (m.type) {
      case 'init':
        try {
          data = await tsr.datasets.fashionMnist({ url: m.dataUrl });
          await ready();
        } catch (e) { failed('init', null, e); }
        break;
      case 'reopen-webgpu':
        try {
          await tsr.releaseDevices();
          await ready();
        } catch (e) { failed('init', 'webgpu', e); }
        break;
      case 'train':
        try { await train(m.request); } catch (e) { failed('train', m.request.device, e); }
        break;
      case 'verify':
        try { post({ type: 'verified', device: m.device, results: await tsr.verifyDevices([m.device]) }); } catch (e) { failed('verify', m.device, e); }
        break;
      case 'compare':
        try { await compare(m.model, m.batchSizes, m.steps); } catch (e) { failed('compare', 'webgpu', e); }
        break;
    }
  });
};
