// Optimizers as JSON (kind and options, schedules by description) for saved models.
import { descriptionOf, rebuild, type Description } from '../core/described.js';
import { fail } from '../core/errors.js';
import { adam, adamw } from './adam.js';
import type { Optimizer } from './optimizer.js';
import { SCHEDULES } from './schedules.js';
import { rmsprop, sgd } from './sgd.js';

export interface OptimizerConfig {
  type: string;
  options: Record<string, unknown>;
}

const OPTIMIZERS: Record<string, (opts: never) => Optimizer> = { adam, adamw, sgd, rmsprop };

/** The optimizer as JSON, or why it cannot be (a learning rate that is a custom function). */
export function optimizerConfig(opt: Optimizer): OptimizerConfig | { reason: string } {
  const d = descriptionOf(opt);
  if (!d) return { reason: 'the optimizer does not record how it was made' };
  const options = { ...(d.args[0] as Record<string, unknown>) };
  if (typeof options['learningRate'] === 'function') {
    const schedule = descriptionOf(options['learningRate']);
    if (!schedule) return { reason: 'its learning rate is a custom function; use a built-in schedule (stepDecay, exponentialDecay, cosineDecay) or a number' };
    options['learningRate'] = { schedule };
  }
  return { type: d.type, options };
}

export function optimizerFromConfig(c: OptimizerConfig): Optimizer {
  if (typeof c !== 'object' || c === null || typeof c.options !== 'object' || c.options === null) fail('load', `invalid optimizer config ${JSON.stringify(c)}`);
  const options = { ...c.options };
  const lr = options['learningRate'] as { schedule?: Description } | number | undefined;
  if (typeof lr === 'object' && lr !== null) options['learningRate'] = rebuild(lr.schedule ?? { type: '?', args: [] }, SCHEDULES, 'learning-rate schedule');
  return rebuild({ type: c.type, args: [options] }, OPTIMIZERS, 'optimizer');
}
