// Learning-rate schedules: functions of the step number, evaluated on the host (no device sync).
import { describe } from '../core/described.js';
import { checkBool, checkInt, checkNumber, checkOptions } from '../core/validate.js';

const rate = (op: string, lr: unknown) => checkNumber(op, 'lr', lr, { min: 0 });

export type Schedule = (step: number) => number;
export type LearningRate = number | Schedule;

/** lr * gamma^floor(step / stepSize). */
export function stepDecay(lr: number, stepSize: number, gamma = 0.1): Schedule {
  rate('stepDecay', lr); checkInt('stepDecay', 'stepSize', stepSize, { min: 1 }); checkNumber('stepDecay', 'gamma', gamma, { min: 0 });
  return describe((step: number) => lr * gamma ** Math.floor(step / stepSize), 'stepDecay', lr, stepSize, gamma);
}

/** lr * rate^(step / decaySteps), optionally in whole stairs. */
export function exponentialDecay(lr: number, decaySteps: number, decayRate: number, staircase = false): Schedule {
  const op = 'exponentialDecay';
  rate(op, lr); checkNumber(op, 'decaySteps', decaySteps, { min: 0, exclusiveMin: true }); checkNumber(op, 'decayRate', decayRate, { min: 0 }); checkBool(op, 'staircase', staircase);
  return describe((step: number) => lr * decayRate ** (staircase ? Math.floor(step / decaySteps) : step / decaySteps), op, lr, decaySteps, decayRate, staircase);
}

/** Linear warm-up to lr over warmupSteps, then cosine decay to minLr at totalSteps. */
export function cosineDecay(lr: number, totalSteps: number, opts: { warmupSteps?: number; minLr?: number } = {}): Schedule {
  const op = 'cosineDecay';
  rate(op, lr); checkInt(op, 'totalSteps', totalSteps, { min: 1 });
  const o = checkOptions(op, opts, ['warmupSteps', 'minLr']);
  const warm = checkInt(op, 'warmupSteps', o.warmupSteps ?? 0, { min: 0 }), minLr = checkNumber(op, 'minLr', o.minLr ?? 0, { min: 0 });
  return describe((step: number) => {
    if (step < warm) return lr * (step + 1) / warm;
    const t = Math.min(1, (step - warm) / Math.max(1, totalSteps - warm));
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
  }, 'cosineDecay', lr, totalSteps, opts);
}

/** Rebuilds a schedule from its description (see describe). */
export const SCHEDULES: Record<string, (...args: never[]) => Schedule> = { stepDecay, exponentialDecay, cosineDecay };
