// Learning-rate schedules: functions of the step number, evaluated on the host (no device sync).
import { describe } from '../core/described.js';

export type Schedule = (step: number) => number;
export type LearningRate = number | Schedule;

/** lr * gamma^floor(step / stepSize). */
export function stepDecay(lr: number, stepSize: number, gamma = 0.1): Schedule {
  return describe((step: number) => lr * gamma ** Math.floor(step / stepSize), 'stepDecay', lr, stepSize, gamma);
}

/** lr * rate^(step / decaySteps), optionally in whole stairs. */
export function exponentialDecay(lr: number, decaySteps: number, rate: number, staircase = false): Schedule {
  return describe((step: number) => lr * rate ** (staircase ? Math.floor(step / decaySteps) : step / decaySteps), 'exponentialDecay', lr, decaySteps, rate, staircase);
}

/** Linear warm-up to lr over warmupSteps, then cosine decay to minLr at totalSteps. */
export function cosineDecay(lr: number, totalSteps: number, opts: { warmupSteps?: number; minLr?: number } = {}): Schedule {
  const warm = opts.warmupSteps ?? 0, minLr = opts.minLr ?? 0;
  return describe((step: number) => {
    if (step < warm) return lr * (step + 1) / warm;
    const t = Math.min(1, (step - warm) / Math.max(1, totalSteps - warm));
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
  }, 'cosineDecay', lr, totalSteps, opts);
}

/** Rebuilds a schedule from its description (see describe). */
export const SCHEDULES: Record<string, (...args: never[]) => Schedule> = { stepDecay, exponentialDecay, cosineDecay };
