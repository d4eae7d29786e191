// The modelCheckpoint callback: saves the model during fit, every epoch or when a monitored
// metric improves, atomically (see model.save).
import { fail } from '../core/errors.js';
import type { Callback, Logs, TrainableModel } from './callbacks.js';
import type { SaveOptions } from '../io/model-dir.js';
import { checkWritableFolder } from '../io/atomic.js';
import { launchInfo } from '../distributed/launcher.js';

export interface ModelCheckpointOptions extends SaveOptions {
  /** folder to save into; `{epoch}` is replaced by the 1-based epoch number */
  dir: string;
  /** save only when this log value improves (e.g. 'val_loss', 'val_accuracy') */
  monitor?: string;
  /** with monitor: 'min' for losses, 'max' for accuracies ('auto' guesses from the name) */
  mode?: 'min' | 'max' | 'auto';
}

interface SavableModel extends TrainableModel { save(dir: string, opts: SaveOptions): Promise<void> }

export class ModelCheckpoint implements Callback {
  private model?: SavableModel;
  private best = Infinity;
  private readonly sign: number;
  /** 1-based epochs at which a save happened */
  readonly savedEpochs: number[] = [];

  constructor(private readonly opts: ModelCheckpointOptions) {
    if (!opts || typeof opts.dir !== 'string' || !opts.dir) fail('modelCheckpoint', 'needs { dir }');
    const mode = opts.mode ?? 'auto';
    this.sign = mode === 'max' || (mode === 'auto' && /acc|precision|recall/.test(opts.monitor ?? '')) ? -1 : 1;
  }

  setModel(model: TrainableModel): void {
    if (typeof (model as Partial<SavableModel>).save !== 'function') fail('modelCheckpoint', 'the model cannot be saved');
    this.model = model as SavableModel;
  }

  /** Checks the folder can be written before the first step (not after an epoch of training). */
  async onTrainBegin(): Promise<void> {
    this.best = Infinity;
    if (launchInfo().rank === 0) await checkWritableFolder('modelCheckpoint', 'dir', this.opts.dir.replaceAll('{epoch}', '1'));
  }

  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const { monitor } = this.opts;
    if (monitor) {
      const value = logs[monitor];
      if (value === undefined) fail('modelCheckpoint', `monitor '${monitor}' is not in the epoch logs (${Object.keys(logs).join(', ')})`);
      if (!(this.sign * value < this.best)) return;
      this.best = this.sign * value;
    }
    // in a data-parallel job every rank holds the same weights: rank 0 writes them
    if (launchInfo().rank === 0) await this.model!.save(this.opts.dir.replaceAll('{epoch}', String(epoch + 1)), { includeOptimizer: this.opts.includeOptimizer });
    this.savedEpochs.push(epoch + 1);
  }
}
