// Model: a Layer that trains itself, Keras-style (compile, fit, evaluate, predict).
import { fail, shapeStr } from '../core/errors.js';
import { isNode, nextMacrotask } from '../core/platform.js';
import { launchInfo } from '../distributed/launcher.js';
import * as distributed from '../distributed/index.js';
import { BUCKET_BYTES } from '../distributed/data-parallel.js';
import { checkBool, checkInt, checkNumber, checkOneOf, checkOptions, checkPositiveInt, shown } from '../core/validate.js';
import { Dataset, hostRandom } from '../data/dataset.js';
import { type Batch, datasetBatches, forEachPrefetched, tensorBatches } from '../data/stream.js';
import type { Element } from '../data/dataset.js';
import { availableDevices, getDefaultDevice } from '../backends/registry.js';
import { toDevice } from '../ops/device.js';
import { Layer, type LayerArgs, layerWeightsVersion } from '../nn/layer.js';
import { concat } from '../ops/join.js';
import { tensor } from '../ops/creation.js';
import { add, mul } from '../ops/arith.js';
import { nonFiniteNames } from './finite-check.js';
import { slice } from '../ops/views.js';
import { Optimizer } from '../optim/optimizer.js';
import { adam, adamw } from '../optim/adam.js';
import { rmsprop, sgd } from '../optim/sgd.js';
import { noGrad } from '../tensor/autograd.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { Callback, Logs } from './callbacks.js';
import type { Loss } from './losses.js';
import type { Count, Metric } from './metrics.js';
import { type ModelData, type OutputSpec, type PerOutput, dataList, logKey, outputSpecs } from './model-io.js';
import { StepLog } from './step-log.js';
import { dataParallelStep } from './data-parallel-step.js';
import { type CompileStats, type CompiledFunction, compile } from '../tensor/compile.js';
import * as E from '../core/expr.js';
import { sumExpr } from '../ops/reduce.js';
import { Progress, type Verbose } from './progress.js';
import { loadWeights, saveWeights } from '../io/weights.js';
import { type ArchitectureConfig, type SaveOptions, saveModel } from '../io/model-dir.js';

export interface CompileOptions {
  optimizer: Optimizer | 'adam' | 'adamw' | 'sgd' | 'rmsprop';
  /** one loss for every output, or one per output (a list in output order, or keyed by output name) */
  loss: PerOutput<Loss | string>;
  /** each output's loss is scaled by its weight (default 1) and the total is minimised */
  lossWeights?: PerOutput<number>;
  /** one list for every output, or one list per output (a list of lists, or keyed by output name) */
  metrics?: PerOutput<readonly (Metric | string)[]>;
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
  /** [x, y], each as fit's x and y (a tensor, a list, or keyed by name) */
  validationData?: readonly [ModelData, ModelData];
  shuffle?: boolean;
  /** seed of the per-epoch shuffle */
  seed?: number;
  /** a list of callbacks, or one callback object (as TF.js takes `{ onEpochEnd }`) */
  callbacks?: Callback[] | Callback;
  /** 0 silent, 1 progress bar (one line per epoch when not a terminal), 2 one line per epoch */
  verbose?: Verbose;
  initialEpoch?: number;
  /**
   * How often fit hands the thread back to the event loop (as TF.js): 'auto' every 125 ms,
   * a number of ms, 'batch', 'epoch' or 'never'. Default 'auto' in browsers, so a page that
   * trains on its main thread keeps drawing; 'never' in Node.
   */
  yieldEvery?: YieldEvery;
  /**
   * Data-parallel over the job's processes (mpirun, srun): every rank trains on its shard of each
   * epoch's shuffle with rank 0's starting weights, gradients averaged, logs over all ranks.
   * Default: on when the job has more than one process. `{ bucketMB }` turns it on with gradient
   * buckets of that size (default 25, PyTorch DDP's).
   */
  distributed?: boolean | { bucketMB?: number };
}

export type YieldEvery = 'auto' | 'batch' | 'epoch' | 'never' | number;

/** A training step's detached losses and metric counts. */
export interface StepResult { loss: Tensor; outputLosses: Tensor[]; metrics: [Count, Count][] }

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
  /** The sums over every rank (each as float32 high and low parts, so the float64 totals survive). */
  async sumOverRanks(): Promise<void> {
    const keys = [...this.sums.keys()].sort(), parts: number[] = [];
    for (const k of keys) for (const v of this.sums.get(k)!) { const hi = Math.fround(v); parts.push(hi, v - hi); }
    const local = tensor(Float32Array.from(parts));
    const total = await distributed.allReduce(local, 'sum');
    const t = await total.data();
    local.dispose();
    total.dispose();
    keys.forEach((k, i) => this.sums.set(k, [t[4 * i]! + t[4 * i + 1]!, t[4 * i + 2]! + t[4 * i + 3]!]));
  }
}

/** A model's data, one tensor per input and per output. */
interface Lists { readonly x: readonly Tensor[]; readonly y: readonly Tensor[] }

/** A model of any output: Sequential and custom models predict one tensor, functional ones a list. */
export type AnyModel = Model<Tensor | Tensor[]>;

export abstract class Model<Prediction extends Tensor | Tensor[] = Tensor> extends Layer {
  stopTraining = false;
  /** epochs completed by fit (counting from initialEpoch); saved with the model for resuming */
  epochsTrained = 0;
  optimizer?: Optimizer;
  /** each output's loss, loss weight and metrics, from compile() */
  private outputSpecs: OutputSpec[] = [];
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

  /** Names of the inputs, the keys of name-keyed data (a model of one input: 'input'). */
  get inputNames(): string[] { return ['input']; }

  /** Names of the outputs: the keys of per-output losses and data, and of their logs. */
  get outputNames(): string[] { return ['output']; }

  /** One output per output name for one input per input name; a model of one input and output runs forward. */
  protected forwardAll(xs: readonly Tensor[]): Tensor[] {
    return [this.apply(xs[0]!)];
  }

  /** Each input's per-sample shape where the model declares one. */
  protected sampleInputShapes(): (readonly number[] | undefined)[] {
    return [this.declaredInputShape ?? (this as { inputShape?: number[] }).inputShape];
  }

  /** Each output's per-sample shape for these inputs, where it is known. */
  protected sampleOutputShapes(xs: readonly Tensor[]): (readonly number[] | undefined)[] {
    try {
      return [this.computeOutputShape(xs[0]!.shape.slice(1))];
    } catch {
      return [undefined]; // custom models without a declared output shape
    }
  }

  /** @example model.compile({ optimizer: tsr.optimizers.adam(), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] }) */
  compile(opts: CompileOptions): void {
    if (!opts || !opts.optimizer) fail('compile', 'an optimizer is required');
    this.optimizer = typeof opts.optimizer === 'string'
      ? (OPTIMIZERS[opts.optimizer] ?? fail('compile', `unknown optimizer '${opts.optimizer}' (expected ${Object.keys(OPTIMIZERS).join(', ')})`))()
      : opts.optimizer;
    this.outputSpecs = outputSpecs(this.outputNames, opts.loss, opts.lossWeights, opts.metrics);
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

  /** The model's data as lists, checked: one tensor per input and output, the same number of rows in each, the declared shapes. */
  private lists(op: string, x: unknown, y?: unknown): Lists {
    const xs = dataList(op, 'x', x, this.inputNames, 'input');
    const ys = y === undefined ? [] : dataList(op, 'y', y, this.outputNames, 'output');
    this.checkInputs(op, xs, ys);
    return { x: xs, y: ys };
  }

  private checkInputs(op: string, xs: readonly Tensor[], ys: readonly Tensor[]): void {
    const rows = xs[0]!.shape[0];
    const named = (list: readonly Tensor[], names: readonly string[], what: string) => list.map((t, i) => [names.length === 1 ? what : `${what} '${names[i]}'`, t] as const);
    for (const [name, t] of [...named(xs, this.inputNames, 'x'), ...named(ys, this.outputNames, 'y')]) {
      if (t.shape[0] !== rows) fail(op, `x has ${rows} samples (shape ${shapeStr(xs[0]!.shape)}) but ${name} has ${t.shape[0]} (shape ${shapeStr(t.shape)})`);
    }
    this.sampleInputShapes().forEach((expected, i) => {
      const x = xs[i]!;
      if (expected && (x.rank - 1 !== expected.length || expected.some((d, k) => d !== x.shape[k + 1]))) {
        fail(op, `the model expects ${xs.length === 1 ? 'inputs' : `input '${this.inputNames[i]}'`} of shape [batch, ${expected.join(', ')}], got ${shapeStr(x.shape)}`);
      }
    });
  }

  /**
   * Integer class labels must lie in [0, classes): checked once on the host before training,
   * so no device silently trains on a label that picks nothing.
   */
  private async checkLabels(op: string, xs: readonly Tensor[], ys: readonly Tensor[]): Promise<void> {
    const shapes = this.sampleOutputShapes(xs);
    for (let o = 0; o < ys.length; o++) {
      const y = ys[o]!, classes = shapes[o]?.at(-1);
      if (y.dtype !== 'int32' || !classes || classes < 2) continue;
      const labels = await y.data();
      const of = ys.length === 1 ? '' : ` of output '${this.outputNames[o]}'`;
      for (let i = 0; i < labels.length; i++) {
        const v = labels[i]!;
        if (v < 0 || v >= classes) fail(op, `label ${v} at position ${i}${of} is out of range for a model with ${classes} outputs`);
      }
    }
  }

  /** Regularisation penalties of all layers (e.g. dense kernelRegularizer), or null. */
  private penalty(): Tensor | null {
    let total: Tensor | null = null;
    const visit = (l: Layer): void => {
      const r = l.regularization();
      if (r) total = total ? add(total, r) : r;
      for (const c of l.children()) visit(c);
    };
    visit(this);
    return total;
  }

  /** The weighted total of the outputs' losses, then (with several outputs) each output's own. */
  private losses(preds: readonly Tensor[], ys: readonly Tensor[]): Tensor[] {
    const parts = this.outputSpecs.map((s, i) => s.loss(preds[i]!, ys[i]!));
    const weighted = parts.map((l, i) => (this.outputSpecs[i]!.weight === 1 ? l : mul(l, this.outputSpecs[i]!.weight)));
    const total = weighted.reduce((a, b) => add(a, b));
    return parts.length === 1 ? [total] : [total, ...parts];
  }

  /** Each output's metric counts, in output then metric order. */
  private metricCounts(preds: readonly Tensor[], ys: readonly Tensor[]): [Count, Count][] {
    return this.outputSpecs.flatMap((s, i) => s.metrics.map((m) => m.batch(preds[i]!, ys[i]!)));
  }

  /** Values per step in a StepLog: the losses, two counts per metric. */
  private get logWidth(): number {
    const k = this.outputSpecs.length;
    return (k === 1 ? 1 : 1 + k) + 2 * this.outputSpecs.reduce((n, s) => n + s.metrics.length, 0);
  }

  /** Adds one logged step (`rows` samples) to the tally under Keras's log names. */
  private tallyRow(tally: Tally, row: ArrayLike<number>, rows: number): void {
    const specs = this.outputSpecs;
    tally.add('loss', row[0]! * rows, rows);
    let c = 1;
    if (specs.length > 1) specs.forEach((_, i) => tally.add(logKey(specs, i, 'loss'), row[c++]! * rows, rows));
    specs.forEach((s, i) => s.metrics.forEach((m) => { tally.add(logKey(specs, i, m.name), row[c]!, row[c + 1]!); c += 2; }));
  }

  private compiledOrFail(op: string): void {
    if (!this.optimizer || !this.outputSpecs.length) fail(op, `call compile() before ${op}()`);
  }

  /**
   * One optimisation step on a batch (one tensor, or a list with one per input and per output).
   * Returns the total loss, each output's loss (with several outputs) and the metric counts as
   * device tensors (read them with readCount), so a GPU is not stalled inside the step.
   */
  trainStep(x: Tensor | readonly Tensor[], y: Tensor | readonly Tensor[]): StepResult {
    return this.stepWith(x, y, true, 1);
  }

  /**
   * The step up to the gradients, left in each parameter's .grad (data parallelism averages them
   * before applyGradients). `gradientScale` multiplies the loss before backward (fit's
   * data-parallel steps divide by the world size, so the ranks' gradients only need adding).
   */
  gradientStep(x: Tensor | readonly Tensor[], y: Tensor | readonly Tensor[], gradientScale = 1): StepResult {
    return this.stepWith(x, y, false, gradientScale);
  }

  /** The optimizer's update from the gradients gradientStep left, which it then clears. */
  applyGradients(): void {
    tidy(() => this.optimizer!.step(this.parameters()));
    this.zeroGrad();
  }

  private stepWith(x: Tensor | readonly Tensor[], y: Tensor | readonly Tensor[], update: boolean, gradientScale: number): StepResult {
    this.compiledOrFail('fit');
    const optimizer = this.optimizer!;
    const xs = x instanceof Tensor ? [x] : x, ys = y instanceof Tensor ? [y] : y;
    const out = tidy(() => {
      this.train(true);
      const preds = this.forwardAll(xs);
      const [dataLoss, ...outputLosses] = this.losses(preds, ys);
      const reg = this.penalty();
      const loss = reg ? add(dataLoss!, reg) : dataLoss!;
      (gradientScale === 1 ? loss : mul(loss, gradientScale)).backward();
      if (update) {
        optimizer.step(this.parameters());
        this.zeroGrad();
      }
      const detached = preds.map((p) => p.detach());
      return { loss: dataLoss!.detach(), outputLosses: outputLosses.map((l) => l.detach()), metrics: this.metricCounts(detached, ys) };
    });
    keep(out.loss);
    out.outputLosses.forEach((l) => keep(l));
    out.metrics.flat().forEach((c) => { if (typeof c !== 'number') keep(c); });
    return out;
  }

  /**
   * Trains for `epochs` passes over (x, y) or a Dataset of [x, y] batches. The data stays where
   * it is; each batch is copied to the model's device, the next one while this one trains.
   * @example const history = await model.fit(xTrain, yTrain, { epochs: 10, batchSize: 32, validationSplit: 0.1 });
   */
  async fit(x: ModelData | Dataset, y?: ModelData, opts: FitOptions = {}): Promise<History> {
    const o = checkFitOptions(opts);
    this.compiledOrFail('fit');
    let train: Lists | null = null, val: Lists | null = null, ownVal = false;
    const given = opts ?? {};
    if (given.validationData !== undefined) {
      const v = given.validationData;
      if (!Array.isArray(v) || v.length !== 2) fail('fit', `validationData must be [x, y] tensors (each a tensor, a list, or keyed by name), got ${shown(v)}`);
      val = this.lists('fit (validationData)', v[0], v[1]);
      await this.checkLabels('fit (validationData)', val.x, val.y);
    }
    if (!(x instanceof Dataset)) {
      if (y === undefined) fail('fit', 'y is required when x is not a Dataset');
      const all = this.lists('fit', x, y);
      await this.checkLabels('fit', all.x, all.y);
      const n = all.x[0]!.shape[0]!, nVal = Math.floor(n * o.validationSplit);
      if (n - nVal === 0) fail('fit', `no training samples: x has ${n} rows and validationSplit ${o.validationSplit} holds out ${nVal}`);
      const rows = (l: Lists, r: [number, number]): Lists => ({ x: l.x.map((t) => keep(slice(t, [r]))), y: l.y.map((t) => keep(slice(t, [r]))) });
      train = rows(all, [0, n - nVal]);
      if (nVal > 0) { val = rows(all, [n - nVal, n]); ownVal = true; }
    } else if (o.validationSplit) {
      fail('fit', 'validationSplit needs tensors; with a Dataset pass validationData');
    } else if (given.batchSize !== undefined) {
      fail('fit', 'batchSize applies to tensors: a Dataset is batched already (dataset.batch(n))');
    }
    try {
      return await this.fitLoop(x, train, val, o);
    } finally {
      // a failed fit frees its slices too
      const free = (l: Lists | null) => l && [...l.x, ...l.y].forEach((t) => t.dispose());
      free(train);
      if (ownVal) free(val);
    }
  }

  /** A dataset element as the model's inputs and targets: [x, y] or { x, y } (xs, ys), each part as fit's x and y. */
  private splitElement(e: Element, index: number): { x: Tensor[]; y: Tensor[] } {
    let x: unknown, y: unknown;
    if (Array.isArray(e) && e.length === 2) [x, y] = e;
    else if (typeof e === 'object' && e !== null && !(e instanceof Tensor)) {
      const r = e as Record<string, unknown>;
      x = r['x'] ?? r['xs'];
      y = r['y'] ?? r['ys'];
    }
    if (x === undefined || y === undefined) fail('fit', `dataset element ${index} must be [x, y] or { x, y }, got ${shown(e)}`);
    const op = `fit (dataset element ${index})`;
    return { x: dataList(op, 'x', x, this.inputNames, 'input'), y: dataList(op, 'y', y, this.outputNames, 'output') };
  }

  private async fitLoop(x: ModelData | Dataset, train: Lists | null, val: Lists | null, opts: CheckedFitOptions): Promise<History> {
    const { epochs, batchSize } = opts;
    const device = this.trainingDevice('fit');
    const job = opts.distributed !== null ? distributed.init() : null;
    if (job && !train) fail('fit', 'data-parallel fit shards tensors; a Dataset would need sharding of its own (pass tensors, or distributed: false)');
    if (job) await distributed.syncModel(this);
    const shardRows = (n: number) => (job ? Math.ceil(n / job.worldSize) : n);
    const steps = train ? Math.ceil(shardRows(train.x[0]!.shape[0]!) / batchSize) : ((x as Dataset).size ?? 0);
    // one progress bar and one set of files for the job: rank 0's, counting the job's samples
    // (every rank trains on as many rows, in step)
    const progress = new Progress(job && job.rank !== 0 ? 0 : opts.verbose, epochs, steps);
    const jobSamples = (n: number) => n * (job ? job.worldSize : 1);
    const callbacks = opts.callbacks;
    const batchListeners = callbacks.filter((c) => c.onBatchEnd);
    const yieldListeners = callbacks.filter((c) => c.onYield);
    let lastYield = performance.now();
    /** ms the device took per step at the last read (waiting included): how far ahead the host may queue */
    let deviceStepMs = Infinity;
    /** Hands the thread to the event loop (a macrotask: the page draws, a worker reads its messages). */
    const yieldNow = async (epoch: number, batch: number, logs: Logs): Promise<void> => {
      for (const c of yieldListeners) await c.onYield!(epoch, batch, logs);
      await nextMacrotask();
      lastYield = performance.now();
    };
    callbacks.forEach((c) => c.setModel?.(this));
    const history: History = { epoch: [], history: {} };
    this.stopTraining = false;
    for (const c of callbacks) await c.onTrainBegin?.();
    let logs: Logs = {};
    // the batch that last updated the weights, to blame for weights that turn non-finite
    let previous: { epoch: number; step: number } | null = null;
    // per step: the losses, each metric's two counts, and a probe of the inputs (NaN when they hold NaN/Infinity)
    const log = new StepLog(device, this.logWidth + 1);
    const nIn = this.inputNames.length;
    const logStep = (xs: Tensor[], r: StepResult): void => tidy(() => {
      const probes = xs.filter((t) => t.dtype === 'float32').map((t) => noGrad(() => sumExpr('fit', E.mul(E.input(0), 0), [t], undefined)));
      const probe = probes.length ? probes.reduce((p, q) => add(p, q)) : 0;
      log.record([r.loss, ...r.outputLosses, ...r.metrics.flat(), probe]);
      [r.loss, ...r.outputLosses].forEach((t) => t.dispose());
      r.metrics.flat().forEach((c) => { if (typeof c !== 'number') c.dispose(); });
    });
    const recordStep = (...batch: Tensor[]): void => {
      const xs = batch.slice(0, nIn);
      logStep(xs, this.trainStep(xs, batch.slice(nIn)));
    };
    // data-parallel: the gradients are summed over the ranks between backward and the update
    const distributedStep = job ? dataParallelStep(this, { worldSize: job.worldSize, inputs: nIn, jit: this.jit, bucketBytes: opts.distributed!, record: logStep }) : null;
    // the parameters it updates are part of the signature: freezing a layer or moving weights in a callback captures again
    // (a counter, not a walk over the layers: this runs every step)
    const compiled = this.jit && !job ? compile(recordStep, { name: 'trainStep', key: () => String(layerWeightsVersion()) }) : null;
    const step = compiled ?? recordStep;
    try {
      for (let epoch = opts.initialEpoch; epoch < epochs && !this.stopTraining; epoch++) {
        for (const c of callbacks) await c.onEpochBegin?.(epoch);
        progress.epochBegin(epoch);
        const tally = new Tally();
        // steps queued, and those whose values were read into the tally
        let queued = 0, read = 0, samples = 0;
        const sizes: number[] = [];
        const readLog = async (): Promise<void> => {
          const t = performance.now(), rows = queued - read;
          for (const row of await log.read()) {
            const loss = row[0]!, n = sizes[read]!;
            if (!Number.isFinite(loss)) await this.nonFiniteLoss(loss, epoch, read, previous, !Number.isFinite(row[row.length - 1]!));
            previous = { epoch, step: read };
            this.tallyRow(tally, row, n);
            read++;
            samples += n;
          }
          if (rows > 0) deviceStepMs = (performance.now() - t) / rows;
        };
        const runBatch = async ({ x: xb, y: yb }: Batch, prefetchNext: () => void): Promise<boolean> => {
          for (const c of callbacks) await c.onBatchBegin?.(queued);
          if (distributedStep) await distributedStep.run(...xb, ...yb);
          else step(...xb, ...yb);
          sizes.push(xb[0]!.shape[0]!);
          queued++;
          // the step is queued: make the next batch while the device computes this one
          prefetchNext();
          // values are read only when someone looks: a batch callback, a redraw of the bar, a full log,
          // and when fit yields, once about yieldEvery of device work is queued (a GPU far behind the
          // host would otherwise leave progress and stopTraining seconds late)
          const lead = Math.max(2, Math.ceil(opts.yieldMs / Math.max(deviceStepMs, 1e-3)));
          if (batchListeners.length || log.full || progress.due(queued) || (opts.yieldMs < Infinity && queued - read >= lead)) {
            await readLog();
            const batchLogs = tally.logs();
            progress.batchEnd(read, jobSamples(samples), batchLogs);
            for (const c of batchListeners) await c.onBatchEnd!(read - 1, batchLogs);
          }
          if (performance.now() - lastYield >= opts.yieldMs) {
            await readLog();
            await yieldNow(epoch, read - 1, tally.logs());
          }
          return this.stopTraining;
        };
        let source: Iterator<Batch> | AsyncIterator<Batch>;
        if (train) {
          const n = train.x[0]!.shape[0]!;
          const order = Int32Array.from({ length: n }, (_, i) => i);
          if (opts.shuffle) {
            const random = hostRandom(opts.seed * 1_000_003 + epoch);
            for (let i = n - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!]; }
          }
          source = tensorBatches(train.x, train.y, batchSize, job ? shardOf(order, job.rank, job.worldSize) : order, device);
        } else {
          source = datasetBatches(x as Dataset, device, (e, i) => this.splitElement(e, i), (xb, yb) => { this.checkInputs('fit', xb, yb); return this.checkLabels('fit', xb, yb); });
        }
        await forEachPrefetched(source, runBatch);
        await readLog();
        if (job) await tally.sumOverRanks();
        logs = tally.logs();
        await this.checkWeightsFinite(`during epoch ${epoch + 1}`);
        if (val) Object.assign(logs, await this.evaluateLogs(val, batchSize, 'val_'));
        progress.epochEnd(epoch, jobSamples(samples), logs);
        this.epochsTrained = epoch + 1;
        history.epoch.push(epoch);
        for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
        for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
        if (opts.yieldEpochs) await yieldNow(epoch, read - 1, logs);
        // a callback that stops one rank stops them all, at the same epoch
        if (job) this.stopTraining = await anyRank(this.stopTraining);
      }
    } finally {
      this.lastStepStats = compiled?.stats ?? distributedStep?.stats ?? null;
      compiled?.dispose();
      distributedStep?.dispose();
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

  private async evaluateLogs(data: Lists, batchSize: number, prefix = ''): Promise<Logs> {
    this.compiledOrFail('evaluate');
    const device = this.trainingDevice('evaluate');
    const tally = new Tally();
    const n = data.x[0]!.shape[0]!, nIn = data.x.length;
    const log = new StepLog(device, this.logWidth);
    const recordStep = (...batch: Tensor[]): void => tidy(() => {
      const preds = this.forwardAll(batch.slice(0, nIn)), ys = batch.slice(nIn);
      log.record([...this.losses(preds, ys), ...this.metricCounts(preds, ys).flat()]);
    });
    const step = this.jit ? compile(recordStep, { name: 'evaluateStep' }) : recordStep;
    const sizes: number[] = [];
    const readLog = async () => {
      for (const row of await log.read()) this.tallyRow(tally, row, sizes.shift()!);
    };
    this.train(false);
    try {
      for (let start = 0; start < n; start += batchSize) {
        const end = Math.min(n, start + batchSize);
        noGrad(() => tidy(() => step(...[...data.x, ...data.y].map((t) => toDevice(slice(t, [[start, end]]), device)))));
        sizes.push(end - start);
        if (log.full) await readLog();
      }
      await readLog();
    } finally {
      this.train(true);
      if (this.jit) (step as CompiledFunction<Tensor[], void>).dispose();
      log.dispose();
    }
    return tally.logs(prefix);
  }

  /**
   * Loss and metrics over (x, y), in inference mode; with several outputs also each output's
   * loss and metrics under its name (Keras's `<output>_loss`).
   * @example const { loss, accuracy } = await model.evaluate(x, y)
   */
  async evaluate(x: ModelData, y: ModelData, opts: { batchSize?: number } = {}): Promise<Logs> {
    const batchSize = checkBatchSize('evaluate', opts);
    this.compiledOrFail('evaluate');
    return this.evaluateLogs(this.lists('evaluate', x, y), batchSize);
  }

  /** What compile() set up, for saving: each output's loss, loss weight and metrics (the optimizer is public). */
  get compiledWith(): readonly OutputSpec[] {
    return this.outputSpecs;
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

  /**
   * Outputs for x, in inference mode, computed in batches on the model's device (where the
   * result stays): one tensor, or a list with one per output for a model of several.
   */
  predict(x: ModelData, opts: { batchSize?: number } = {}): Prediction {
    const batchSize = checkBatchSize('predict', opts);
    const { x: xs } = this.lists('predict', x);
    const n = xs[0]!.shape[0]!, device = this.trainingDevice('predict');
    const parts: Tensor[][] = [];
    const forward = (...xb: Tensor[]) => this.forwardAll(xb);
    const step = this.jit ? compile(forward, { name: 'predictStep' }) : forward;
    this.train(false);
    try {
      // zero rows still go through the model once, so the result has the right shape
      for (let start = 0; start < Math.max(n, 1); start += batchSize) {
        const rows: [number, number] = [start, Math.min(n, start + batchSize)];
        parts.push(tidy(() => noGrad(() => step(...xs.map((t) => toDevice(slice(t, [rows]), device))))).map((t) => keep(t)));
      }
    } catch (e) {
      parts.flat().forEach((p) => p.dispose());
      throw e;
    } finally {
      this.train(true);
      if (this.jit) (step as CompiledFunction<Tensor[], Tensor[]>).dispose();
    }
    const outputs = parts[0]!.map((_, o) => {
      if (parts.length === 1) return parts[0]![o]!;
      const column = parts.map((p) => p[o]!);
      const joined = noGrad(() => concat(column, 0));
      column.forEach((p) => p.dispose());
      return joined;
    });
    return (this.outputNames.length === 1 ? outputs[0]! : outputs) as Prediction;
  }
}

const FIT_OPTIONS = ['epochs', 'batchSize', 'validationSplit', 'validationData', 'shuffle', 'seed', 'callbacks', 'verbose', 'initialEpoch', 'yieldEvery', 'distributed'] as const;

/**
 * Rank `rank`'s rows of an epoch's order, as PyTorch's DistributedSampler deals them: every
 * world-th row from the rank's own, the order wrapped round so every rank has as many rows.
 */
function shardOf(order: Int32Array, rank: number, world: number): Int32Array {
  const per = Math.ceil(order.length / world);
  return Int32Array.from({ length: per }, (_, i) => order[(rank + i * world) % order.length]!);
}

/** True on every rank when it is true on any. */
async function anyRank(flag: boolean): Promise<boolean> {
  const mine = tensor(Int32Array.of(flag ? 1 : 0)), any = await distributed.allReduce(mine, 'max');
  const result = (await any.data())[0] === 1;
  mine.dispose();
  any.dispose();
  return result;
}

/** yieldEvery: 'auto' yields this often (TF.js's interval). */
const AUTO_YIELD_MS = 125;

type CheckedFitOptions = Required<Pick<FitOptions, 'epochs' | 'batchSize' | 'validationSplit' | 'shuffle' | 'seed' | 'initialEpoch'>> & {
  verbose: Verbose; callbacks: Callback[];
  /** bytes per gradient bucket when data-parallel, else null */
  distributed: number | null;
  /** ms between yields within an epoch (0: every batch), Infinity for none; and whether each epoch's end yields */
  yieldMs: number; yieldEpochs: boolean;
};

/** yieldEvery as an interval within epochs, and whether epochs' ends yield. */
function checkYieldEvery(op: string, given: YieldEvery | undefined): { yieldMs: number; yieldEpochs: boolean } {
  const every = given ?? (isNode ? 'never' : 'auto');
  if (typeof every === 'number') return { yieldMs: checkNumber(op, 'yieldEvery', every, { min: 0 }), yieldEpochs: true };
  const kind = checkOneOf(op, 'yieldEvery', every, ['auto', 'batch', 'epoch', 'never'] as const);
  const yieldMs = kind === 'auto' ? AUTO_YIELD_MS : kind === 'batch' ? 0 : Infinity;
  return { yieldMs, yieldEpochs: kind !== 'never' };
}

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
    distributed: checkDistributed(op, opts.distributed),
    ...checkYieldEvery(op, opts.yieldEvery),
  };
}

/** fit's distributed option as gradient-bucket bytes, or null when off. */
function checkDistributed(op: string, given: FitOptions['distributed']): number | null {
  if (typeof given === 'object' && given !== null) {
    checkOptions(`${op} (distributed)`, given, ['bucketMB'] as const);
    return given.bucketMB === undefined ? BUCKET_BYTES : checkNumber(op, 'distributed.bucketMB', given.bucketMB, { min: 0, exclusiveMin: true }) * 2 ** 20;
  }
  return checkBool(op, 'distributed', given ?? launchInfo().worldSize > 1) ? BUCKET_BYTES : null;
}

/** A positive whole batch size (32 by default, as Keras). */
function checkBatchSize(op: string, opts: { batchSize?: number } | undefined): number {
  const o = op === 'fit' ? opts ?? {} : checkOptions(op, opts, ['batchSize']);
  return checkPositiveInt(op, 'batchSize', o.batchSize ?? 32);
}
