// Model: a Layer that trains itself, Keras-style (compile, fit, evaluate, predict).
import { fail, shapeStr } from '../core/errors.js';
import { checkBool, checkInt, checkNumber, checkOneOf, checkOptions, checkPositiveInt, shown } from '../core/validate.js';
import { Dataset, hostRandom } from '../data/dataset.js';
import { type Batch, datasetBatches, forEachPrefetched, tensorBatches } from '../data/stream.js';
import { availableDevices, getDefaultDevice } from '../backends/registry.js';
import { toDevice } from '../ops/device.js';
import { Layer, type LayerArgs, layerWeightsVersion } from '../nn/layer.js';
import { concat } from '../ops/join.js';
import { add } from '../ops/arith.js';
import { nonFiniteNames } from './finite-check.js';
import { slice } from '../ops/views.js';
import { Optimizer } from '../optim/optimizer.js';
import { adam, adamw } from '../optim/adam.js';
import { rmsprop, sgd } from '../optim/sgd.js';
import { noGrad } from '../tensor/autograd.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { Callback, Logs } from './callbacks.js';
import { type Loss, resolveLoss } from './losses.js';
import { type Count, type Metric, resolveMetric } from './metrics.js';
import { StepLog } from './step-log.js';
import { type CompileStats, type CompiledFunction, compile } from '../tensor/compile.js';
import * as E from '../core/expr.js';
import { sumExpr } from '../ops/reduce.js';
import { Progress, type Verbose } from './progress.js';
import { loadWeights, saveWeights } from '../io/weights.js';
import { type ArchitectureConfig, type SaveOptions, saveModel } from '../io/model-dir.js';

export interface CompileOptions {
  optimizer: Optimizer | 'adam' | 'adamw' | 'sgd' | 'rmsprop';
  loss: Loss | string;
  metrics?: (Metric | string)[];
  /** the device to train on: the weights move there (as model.to(device)); batches follow */
  device?: string;
  /** fit, evaluate and predict capture their step once and replay it (default true); false runs every op eagerly */
  jit?: boolean;
}

export interface FitOptions {
  epochs?: number;
  /** samples per step for tensors (default 32); a Dataset is batched already, so it is an error there */
  batchSize?: number;
  /** fraction of the samples (the last ones, as Keras) held out for validation */
  validationSplit?: number;
  validationData?: [Tensor, Tensor];
  shuffle?: boolean;
  /** seed of the per-epoch shuffle */
  seed?: number;
  /** a list of callbacks, or one callback object (as TF.js takes `{ onEpochEnd }`) */
  callbacks?: Callback[] | Callback;
  /** 0 silent, 1 progress bar (one line per epoch when not a terminal), 2 one line per epoch */
  verbose?: Verbose;
  initialEpoch?: number;
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
}

const OPTIMIZERS = { adam, adamw, sgd, rmsprop };

/** Running (numerator, denominator) sums for the epoch's logs. */
class Tally {
  private readonly sums = new Map<string, [number, number]>();
  add(name: string, num: number, den: number): void {
    const s = this.sums.get(name) ?? [0, 0];
    s[0] += num;
    s[1] += den;
    this.sums.set(name, s);
  }
  logs(prefix = ''): Logs {
    return Object.fromEntries([...this.sums].map(([k, [n, d]]) => [prefix + k, d ? n / d : 0]));
  }
}

export abstract class Model extends Layer {
  stopTraining = false;
  /** epochs completed by fit (counting from initialEpoch); saved with the model for resuming */
  epochsTrained = 0;
  optimizer?: Optimizer;
  private lossFn?: Loss;
  private metrics: Metric[] = [];
  /** whether fit, evaluate and predict use compiled steps */
  jit = true;
  /** what the compiled steps of the last fit, evaluate or predict did (for --profile) */
  lastStepStats: CompileStats | null = null;

  constructor(prefix = 'model', args: LayerArgs = {}) {
    super(prefix, args);
  }

  computeOutputShape(inputShape: readonly number[]): number[] {
    return fail(this.name, `cannot infer the output shape of a custom model from [${inputShape.join(', ')}]; override computeOutputShape`);
  }

  /** @example model.compile({ optimizer: tsr.optimizers.adam(), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] }) */
  compile(opts: CompileOptions): void {
    if (!opts || !opts.optimizer) fail('compile', 'an optimizer is required');
    this.optimizer = typeof opts.optimizer === 'string'
      ? (OPTIMIZERS[opts.optimizer] ?? fail('compile', `unknown optimizer '${opts.optimizer}' (expected ${Object.keys(OPTIMIZERS).join(', ')})`))()
      : opts.optimizer;
    this.lossFn = resolveLoss(opts.loss);
    this.metrics = (opts.metrics ?? []).map(resolveMetric);
    this.jit = checkBool('compile', 'jit', opts.jit ?? true);
    if (opts.device !== undefined) this.to(opts.device);
  }

  /**
   * Where fit, evaluate and predict run: the device of the weights (or where to() or
   * compile({ device }) placed the model), else the default device. Data stays where it is;
   * each batch is copied there.
   */
  private trainingDevice(op: string): string {
    const device = this.device ?? getDefaultDevice();
    if (!availableDevices().includes(device)) {
      fail(op, `the model's weights are on '${device}', which is no longer open (tsr.releaseDevices() closed it, and its tensors with it); call tsr.initDevices() and build or load the model again`);
    }
    return device;
  }

  private checkInputs(op: string, x: Tensor, y?: Tensor): void {
    if (!(x instanceof Tensor)) fail(op, 'x must be a Tensor (or use a Dataset)');
    if (y !== undefined && !(y instanceof Tensor)) fail(op, 'y must be a Tensor');
    if (y && x.shape[0] !== y.shape[0]) fail(op, `x has ${x.shape[0]} samples (shape ${shapeStr(x.shape)}) but y has ${y.shape[0]} (shape ${shapeStr(y.shape)})`);
    const expected = this.declaredInputShape ?? (this as { inputShape?: number[] }).inputShape;
    if (expected && (x.rank - 1 !== expected.length || expected.some((d, i) => d !== x.shape[i + 1]))) {
      fail(op, `the model expects inputs of shape [batch, ${expected.join(', ')}], got ${shapeStr(x.shape)}`);
    }
  }

  /**
   * Integer class labels must lie in [0, classes): checked once on the host before training,
   * so no device silently trains on a label that picks nothing.
   */
  private async checkLabels(op: string, x: Tensor, y: Tensor): Promise<void> {
    if (y.dtype !== 'int32') return;
    let classes: number | undefined;
    try {
      classes = this.computeOutputShape(x.shape.slice(1)).at(-1);
    } catch {
      return; // custom models without a declared output shape
    }
    if (!classes || classes < 2) return;
    const labels = await y.data();
    for (let i = 0; i < labels.length; i++) {
      const v = labels[i]!;
      if (v < 0 || v >= classes) fail(op, `label ${v} at position ${i} is out of range for a model with ${classes} outputs`);
    }
  }

  /** Regularisation penalties of all layers (e.g. dense kernelRegularizer), or null. */
  private penalty(): Tensor | null {
    let total: Tensor | null = null;
    const visit = (l: Layer): void => {
      const r = (l as { regularization?: () => Tensor | null }).regularization?.();
      if (r) total = total ? add(total, r) : r;
      for (const c of l.children()) visit(c);
    };
    visit(this);
    return total;
  }

  /**
   * One optimisation step on a batch. Returns the loss and metric counts as device tensors
   * (read them with readCount), so a GPU is not stalled inside the step.
   */
  trainStep(x: Tensor, y: Tensor): { loss: Tensor; metrics: [Count, Count][] } {
    const optimizer = this.optimizer, lossFn = this.lossFn;
    if (!optimizer || !lossFn) fail('fit', 'call compile() before fit()');
    const out = tidy(() => {
      this.train(true);
      const pred = this.apply(x);
      const dataLoss = lossFn(pred, y);
      const reg = this.penalty();
      const loss = reg ? add(dataLoss, reg) : dataLoss;
      loss.backward();
      optimizer.step(this.parameters());
      this.zeroGrad();
      return { loss: dataLoss.detach(), metrics: this.metrics.map((m) => m.batch(pred.detach(), y)) };
    });
    keep(out.loss);
    out.metrics.flat().forEach((c) => { if (typeof c !== 'number') keep(c); });
    return out;
  }

  /**
   * Trains for `epochs` passes over (x, y) or a Dataset of [x, y] batches. The data stays where
   * it is; each batch is copied to the model's device, the next one while this one trains.
   * @example const history = await model.fit(xTrain, yTrain, { epochs: 10, batchSize: 32, validationSplit: 0.1 });
   */
  async fit(x: Tensor | Dataset, y?: Tensor, opts: FitOptions = {}): Promise<History> {
    const o = checkFitOptions(opts);
    if (!this.optimizer) fail('fit', 'call compile() before fit()');
    let train: { x: Tensor; y: Tensor } | null = null;
    const given = opts ?? {};
    let val = given.validationData ?? null;
    if (val && !(Array.isArray(val) && val.length === 2 && val.every((t) => t instanceof Tensor))) fail('fit', `validationData must be [x, y] tensors, got ${shown(val)}`);
    if (!(x instanceof Dataset)) {
      if (!y) fail('fit', 'y is required when x is a Tensor');
      this.checkInputs('fit', x, y);
      await this.checkLabels('fit', x, y);
      if (val) { this.checkInputs('fit (validationData)', val[0], val[1]); await this.checkLabels('fit (validationData)', val[0], val[1]); }
      const n = x.shape[0]!, nVal = Math.floor(n * o.validationSplit);
      if (n - nVal === 0) fail('fit', `no training samples: x has ${n} rows and validationSplit ${o.validationSplit} holds out ${nVal}`);
      train = { x: keep(slice(x, [[0, n - nVal]])), y: keep(slice(y, [[0, n - nVal]])) };
      if (nVal > 0) val = [keep(slice(x, [[n - nVal, n]])), keep(slice(y, [[n - nVal, n]]))];
    } else if (o.validationSplit) {
      fail('fit', 'validationSplit needs tensors; with a Dataset pass validationData');
    } else if (given.batchSize !== undefined) {
      fail('fit', 'batchSize applies to tensors: a Dataset is batched already (dataset.batch(n))');
    }
    const ownVal = val !== null && !given.validationData;
    try {
      return await this.fitLoop(x, train, val, o);
    } finally {
      // a failed fit frees its slices too
      if (train) { train.x.dispose(); train.y.dispose(); }
      if (ownVal) { val![0].dispose(); val![1].dispose(); }
    }
  }

  private async fitLoop(x: Tensor | Dataset, train: { x: Tensor; y: Tensor } | null, val: [Tensor, Tensor] | null, opts: CheckedFitOptions): Promise<History> {
    const { epochs, batchSize } = opts;
    const device = this.trainingDevice('fit');
    const steps = train ? Math.ceil(train.x.shape[0]! / batchSize) : ((x as Dataset).size ?? 0);
    const progress = new Progress(opts.verbose, epochs, steps);
    const callbacks = opts.callbacks;
    const batchListeners = callbacks.filter((c) => c.onBatchEnd);
    callbacks.forEach((c) => c.setModel?.(this));
    const history: History = { epoch: [], history: {} };
    this.stopTraining = false;
    for (const c of callbacks) await c.onTrainBegin?.();
    let logs: Logs = {};
    // the batch that last updated the weights, to blame for weights that turn non-finite
    let previous: { epoch: number; step: number } | null = null;
    // per step: the loss, each metric's two counts, and a probe of the inputs (NaN when they hold NaN/Infinity)
    const log = new StepLog(device, 2 + 2 * this.metrics.length);
    const recordStep = (xb: Tensor, yb: Tensor): void => tidy(() => {
      const r = this.trainStep(xb, yb);
      const probe = xb.dtype === 'float32' ? noGrad(() => sumExpr('fit', E.mul(E.input(0), 0), [xb], undefined)) : 0;
      log.record([r.loss, ...r.metrics.flat(), probe]);
      r.loss.dispose();
      r.metrics.flat().forEach((c) => { if (typeof c !== 'number') c.dispose(); });
    });
    // the parameters it updates are part of the signature: freezing a layer or moving weights in a callback captures again
    // (a counter, not a walk over the layers: this runs every step)
    const step = this.jit ? compile(recordStep, { name: 'trainStep', key: () => String(layerWeightsVersion()) }) : recordStep;
    try {
      for (let epoch = opts.initialEpoch; epoch < epochs && !this.stopTraining; epoch++) {
        for (const c of callbacks) await c.onEpochBegin?.(epoch);
        progress.epochBegin(epoch);
        const tally = new Tally();
        // steps queued, and those whose values were read into the tally
        let queued = 0, read = 0, samples = 0;
        const sizes: number[] = [];
        const readLog = async (): Promise<void> => {
          for (const row of await log.read()) {
            const loss = row[0]!, n = sizes[read]!;
            if (!Number.isFinite(loss)) await this.nonFiniteLoss(loss, epoch, read, previous, !Number.isFinite(row[row.length - 1]!));
            previous = { epoch, step: read };
            tally.add('loss', loss * n, n);
            this.metrics.forEach((m, i) => tally.add(m.name, row[1 + 2 * i]!, row[2 + 2 * i]!));
            read++;
            samples += n;
          }
        };
        const runBatch = async ({ x: xb, y: yb }: Batch, prefetchNext: () => void): Promise<boolean> => {
          for (const c of callbacks) await c.onBatchBegin?.(queued);
          step(xb, yb);
          sizes.push(xb.shape[0]!);
          queued++;
          // the step is queued: make the next batch while the device computes this one
          prefetchNext();
          // values are read only when someone looks: a batch callback, a redraw of the bar, a full log
          if (batchListeners.length || log.full || progress.due(queued)) {
            await readLog();
            const batchLogs = tally.logs();
            progress.batchEnd(read, samples, batchLogs);
            for (const c of batchListeners) await c.onBatchEnd!(read - 1, batchLogs);
          }
          return this.stopTraining;
        };
        let source: Iterator<Batch> | AsyncIterator<Batch>;
        if (train) {
          const n = train.x.shape[0]!;
          const order = Int32Array.from({ length: n }, (_, i) => i);
          if (opts.shuffle) {
            const random = hostRandom(opts.seed * 1_000_003 + epoch);
            for (let i = n - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!]; }
          }
          source = tensorBatches(train.x, train.y, batchSize, order, device);
        } else {
          source = datasetBatches(x as Dataset, device, (xb, yb) => { this.checkInputs('fit', xb, yb); return this.checkLabels('fit', xb, yb); });
        }
        await forEachPrefetched(source, runBatch);
        await readLog();
        logs = tally.logs();
        await this.checkWeightsFinite(`during epoch ${epoch + 1}`);
        if (val) Object.assign(logs, await this.evaluateLogs(val[0], val[1], batchSize, 'val_'));
        progress.epochEnd(epoch, samples, logs);
        this.epochsTrained = epoch + 1;
        history.epoch.push(epoch);
        for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
        for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
      }
    } finally {
      this.lastStepStats = this.jit ? (step as CompiledFunction<[Tensor, Tensor], void>).stats : null;
      if (this.jit) (step as CompiledFunction<[Tensor, Tensor], void>).dispose();
      log.dispose();
    }
    for (const c of callbacks) await c.onTrainEnd?.(logs);
    return history;
  }

  /**
   * Stops fit on a non-finite loss, naming the cause: this batch's inputs, or the weights a
   * non-finite gradient of the previous batch updated (read only now, on the failure path).
   */
  private async nonFiniteLoss(loss: number, epoch: number, step: number, previous: { epoch: number; step: number } | null, inputsBad: boolean): Promise<never> {
    const at = (e: number, s: number) => `epoch ${e + 1}, batch ${s + 1}`;
    const lr = this.optimizer!.learningRate;
    if (inputsBad) fail('fit', `the loss became ${loss} at ${at(epoch, step)}: that batch's inputs hold NaN/Infinity; training stopped. Clean the data (no NaN or infinite values)`);
    const bad = await nonFiniteNames(this.namedTensors());
    const weights = bad.length ? ` (${bad.join(', ')} now hold NaN/Infinity)` : '';
    const cause = previous
      ? `a gradient became non-finite at ${at(previous.epoch, previous.step)} and the weights it updated made this loss non-finite, or the loss itself overflowed${weights}`
      : `the inputs are finite, so the weights were non-finite before training (loaded or set that way) or the loss itself overflowed${weights}`;
    return fail('fit', `the loss became ${loss} at ${at(epoch, step)}: ${cause}; training stopped. Lower the learning rate (now ${lr}) or clip gradients (clipNorm)`);
  }

  /** Fails when a weight holds NaN/Infinity (a non-finite gradient whose loss stayed finite, e.g. an embedding row). */
  private async checkWeightsFinite(when: string): Promise<void> {
    const bad = await nonFiniteNames(this.namedTensors());
    if (bad.length) fail('fit', `a gradient became non-finite ${when}: ${bad.join(', ')} now hold NaN/Infinity; training stopped. Lower the learning rate (now ${this.optimizer!.learningRate}) or clip gradients (clipNorm)`);
  }

  private async evaluateLogs(x: Tensor, y: Tensor, batchSize: number, prefix = ''): Promise<Logs> {
    const lossFn = this.lossFn;
    if (!lossFn) fail('evaluate', 'call compile() before evaluate()');
    this.checkInputs('evaluate', x, y);
    const device = this.trainingDevice('evaluate');
    const tally = new Tally();
    const n = x.shape[0]!;
    const log = new StepLog(device, 1 + 2 * this.metrics.length);
    const recordStep = (xb: Tensor, yb: Tensor): void => tidy(() => {
      const pred = this.apply(xb);
      log.record([lossFn(pred, yb), ...this.metrics.flatMap((m) => m.batch(pred, yb))]);
    });
    const step = this.jit ? compile(recordStep, { name: 'evaluateStep' }) : recordStep;
    const sizes: number[] = [];
    const readLog = async () => {
      for (const row of await log.read()) {
        const rows = sizes.shift()!;
        tally.add('loss', row[0]! * rows, rows);
        this.metrics.forEach((m, i) => tally.add(m.name, row[1 + 2 * i]!, row[2 + 2 * i]!));
      }
    };
    this.train(false);
    try {
      for (let start = 0; start < n; start += batchSize) {
        const end = Math.min(n, start + batchSize);
        noGrad(() => tidy(() => step(toDevice(slice(x, [[start, end]]), device), toDevice(slice(y, [[start, end]]), device))));
        sizes.push(end - start);
        if (log.full) await readLog();
      }
      await readLog();
    } finally {
      this.train(true);
      if (this.jit) (step as CompiledFunction<[Tensor, Tensor], void>).dispose();
      log.dispose();
    }
    return tally.logs(prefix);
  }

  /** Loss and metrics over (x, y), in inference mode. @example const { loss, accuracy } = await model.evaluate(x, y) */
  async evaluate(x: Tensor, y: Tensor, opts: { batchSize?: number } = {}): Promise<Logs> {
    return this.evaluateLogs(x, y, checkBatchSize('evaluate', opts));
  }

  /** What compile() set up, for saving: the loss function and metrics (the optimizer is public). */
  get compiledWith(): { loss?: Loss; metrics: readonly Metric[] } {
    return { loss: this.lossFn, metrics: this.metrics };
  }

  /** The model's structure as JSON; Sequential models have one, custom subclasses do not. */
  architecture(): ArchitectureConfig {
    return fail('save', `${this.name} is a custom Model subclass, whose forward() cannot be saved as JSON; save its weights with saveWeights() and rebuild it in code`);
  }

  /**
   * Saves the architecture and training config (model.json) and the weights (safetensors),
   * with the optimizer state too if asked, so training can resume exactly. Atomic: a crash
   * during a save leaves the previous save in `dir` loadable.
   * @example await model.save('checkpoints/run1', { includeOptimizer: true })
   */
  save(dir: string, opts: SaveOptions = {}): Promise<void> {
    return saveModel(this, dir, opts);
  }

  /** Writes all weights to a safetensors file (atomically). @example await model.saveWeights('weights.safetensors') */
  saveWeights(path: string): Promise<void> {
    return saveWeights(this, path);
  }

  /** Loads weights saved by saveWeights; names, shapes and dtypes must match. */
  loadWeights(path: string): Promise<void> {
    return loadWeights(this, path);
  }

  /** Outputs for x, in inference mode, computed in batches on the model's device (where the result stays). */
  predict(x: Tensor, opts: { batchSize?: number } = {}): Tensor {
    const batchSize = checkBatchSize('predict', opts);
    this.checkInputs('predict', x);
    const n = x.shape[0]!, device = this.trainingDevice('predict');
    const parts: Tensor[] = [];
    const forward = (xb: Tensor) => this.apply(xb);
    const step = this.jit ? compile(forward, { name: 'predictStep' }) : forward;
    this.train(false);
    try {
      // zero rows still go through the model once, so the result has the right shape
      for (let start = 0; start < Math.max(n, 1); start += batchSize) {
        parts.push(keep(tidy(() => noGrad(() => step(toDevice(slice(x, [[start, Math.min(n, start + batchSize)]]), device))))));
      }
    } catch (e) {
      parts.forEach((p) => p.dispose());
      throw e;
    } finally {
      this.train(true);
      if (this.jit) (step as CompiledFunction<[Tensor], Tensor>).dispose();
    }
    if (parts.length === 1) return parts[0]!;
    const out = noGrad(() => concat(parts, 0));
    parts.forEach((p) => p.dispose());
    return out;
  }
}

const FIT_OPTIONS = ['epochs', 'batchSize', 'validationSplit', 'validationData', 'shuffle', 'seed', 'callbacks', 'verbose', 'initialEpoch'] as const;

type CheckedFitOptions = Required<Pick<FitOptions, 'epochs' | 'batchSize' | 'validationSplit' | 'shuffle' | 'seed' | 'initialEpoch'>> & { verbose: Verbose; callbacks: Callback[] };

/** fit's options with their defaults, every one checked before training starts. */
function checkFitOptions(given: FitOptions | undefined): CheckedFitOptions {
  const op = 'fit';
  const opts = checkOptions(op, given, FIT_OPTIONS);
  const listed = opts.callbacks ?? [];
  const callbacks: Callback[] = Array.isArray(listed) ? listed : [listed];
  if (callbacks.some((c) => typeof c !== 'object' || c === null)) fail(op, `callbacks must be a callback object or a list of them, got ${shown(opts.callbacks)}`);
  const epochs = checkInt(op, 'epochs', opts.epochs ?? 1, { min: 0 });
  return {
    epochs,
    batchSize: checkBatchSize(op, opts),
    validationSplit: checkNumber(op, 'validationSplit', opts.validationSplit ?? 0, { min: 0, max: 1, exclusiveMax: true }),
    shuffle: checkBool(op, 'shuffle', opts.shuffle ?? true),
    seed: checkInt(op, 'seed', opts.seed ?? 0, { min: 0 }),
    initialEpoch: checkInt(op, 'initialEpoch', opts.initialEpoch ?? 0, { min: 0 }),
    verbose: checkOneOf(op, 'verbose', opts.verbose ?? 1, [0, 1, 2] as const),
    callbacks,
  };
}

/** A positive whole batch size (32 by default, as Keras). */
function checkBatchSize(op: string, opts: { batchSize?: number } | undefined): number {
  const o = op === 'fit' ? opts ?? {} : checkOptions(op, opts, ['batchSize']);
  return checkPositiveInt(op, 'batchSize', o.batchSize ?? 32);
}
