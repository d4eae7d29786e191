// Training callbacks: the hooks fit() calls, and the standard ones (early stopping,
// learning-rate schedule, CSV log).
import { fail } from '../core/errors.js';
import { requireNode } from '../core/platform.js';
import { launchInfo } from '../distributed/launcher.js';
import type { Tensor } from '../tensor/tensor.js';
import { ModelCheckpoint, type ModelCheckpointOptions } from './model-checkpoint.js';

export type Logs = Record<string, number>;

export interface Callback {
  onTrainBegin?(): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onBatchBegin?(batch: number): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs): void | Promise<void>;
  /**
   * Called each time fit yields (see FitOptions.yieldEvery), with the epoch's logs so far: a page's
   * progress without onBatchEnd's read of every step's values
   */
  onYield?(epoch: number, batch: number, logs: Logs): void | Promise<void>;
  /** set by fit before training starts */
  setModel?(model: TrainableModel): void;
}

/** What callbacks may touch on the model being trained. */
export interface TrainableModel {
  stopTraining: boolean;
  namedTensors(): [string, Tensor][];
  readonly optimizer?: { learningRate: number; setLearningRate(lr: number): void };
}

export interface EarlyStoppingOptions {
  monitor?: string;
  minDelta?: number;
  patience?: number;
  mode?: 'min' | 'max' | 'auto';
  restoreBestWeights?: boolean;
}

/** Stops when `monitor` stops improving for `patience` epochs; can restore the best weights. */
export class EarlyStopping implements Callback {
  readonly monitor: string;
  private readonly minDelta: number;
  private readonly patience: number;
  private readonly sign: number;
  private readonly restore: boolean;
  private best = Infinity;
  private wait = 0;
  private bestWeights: Float32Array[] | null = null;
  private model?: TrainableModel;
  /** epoch at which training stopped, if it did */
  stoppedEpoch = -1;

  constructor(opts: EarlyStoppingOptions = {}) {
    this.monitor = opts.monitor ?? 'val_loss';
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    this.patience = opts.patience ?? 0;
    const mode = opts.mode ?? 'auto';
    this.sign = mode === 'max' || (mode === 'auto' && /acc|precision|recall/.test(this.monitor)) ? -1 : 1;
    this.restore = opts.restoreBestWeights ?? false;
  }

  setModel(model: TrainableModel): void { this.model = model; }

  onTrainBegin(): void {
    this.best = Infinity;
    this.wait = 0;
    this.bestWeights = null;
    this.stoppedEpoch = -1;
  }

  onEpochEnd(epoch: number, logs: Logs): void {
    const value = logs[this.monitor];
    if (value === undefined) fail('EarlyStopping', `metric '${this.monitor}' is not in the logs (have: ${Object.keys(logs).join(', ')})`);
    const score = this.sign * value;
    if (score < this.best - this.minDelta) {
      this.best = score;
      this.wait = 0;
      if (this.restore) this.bestWeights = this.model!.namedTensors().map(([, t]) => t.dataSync().slice() as Float32Array);
      return;
    }
    if (++this.wait > this.patience) {
      this.stoppedEpoch = epoch;
      this.model!.stopTraining = true;
    }
  }

  onTrainEnd(): void {
    if (!this.restore || !this.bestWeights || this.stoppedEpoch < 0) return;
    const tensors = this.model!.namedTensors();
    tensors.forEach(([, t], i) => t.backend.write(t.storageView.storage, this.bestWeights![i]!));
  }
}

/** Sets the learning rate at the start of each epoch from schedule(epoch, currentLr). */
export class LearningRateScheduler implements Callback {
  private model?: TrainableModel;
  constructor(private readonly schedule: (epoch: number, lr: number) => number) {}
  setModel(model: TrainableModel): void { this.model = model; }
  onEpochBegin(epoch: number): void {
    const opt = this.model?.optimizer;
    if (!opt) fail('LearningRateScheduler', 'the model has no optimizer (call compile first)');
    const lr = this.schedule(epoch, opt.learningRate);
    if (!Number.isFinite(lr) || lr < 0) fail('LearningRateScheduler', `schedule returned ${lr} for epoch ${epoch}`);
    opt.setLearningRate(lr);
  }
}

/** Appends one CSV row of logs per epoch. */
export class CSVLogger implements Callback {
  private keys: string[] | null = null;
  constructor(readonly path: string, private readonly append = false) {}
  /** Makes (or checks, when appending) the file before the first step, so a bad path fails early. */
  async onTrainBegin(): Promise<void> {
    // in a data-parallel job one log is written, by rank 0 (the logs are the whole job's)
    if (launchInfo().rank !== 0) return;
    this.keys = null;
    const fs = requireNode('fs/promises', 'csvLogger');
    try {
      if (this.append) await (await fs.open(this.path, 'a')).close();
      else await fs.writeFile(this.path, '');
    } catch (e) {
      fail('csvLogger', `${this.path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (launchInfo().rank !== 0) return;
    const { appendFile } = requireNode('fs/promises', 'csvLogger');
    if (!this.keys) {
      this.keys = Object.keys(logs);
      await appendFile(this.path, ['epoch', ...this.keys].join(',') + '\n');
    }
    await appendFile(this.path, [epoch, ...this.keys.map((k) => logs[k] ?? '')].join(',') + '\n');
  }
}

export const callbacks = {
  earlyStopping: (opts: EarlyStoppingOptions = {}) => new EarlyStopping(opts),
  learningRateScheduler: (schedule: (epoch: number, lr: number) => number) => new LearningRateScheduler(schedule),
  csvLogger: (path: string, append = false) => new CSVLogger(path, append),
  /** @example tsr.callbacks.modelCheckpoint({ dir: 'ckpt', monitor: 'val_accuracy', includeOptimizer: true }) */
  modelCheckpoint: (opts: ModelCheckpointOptions) => new ModelCheckpoint(opts),
};
