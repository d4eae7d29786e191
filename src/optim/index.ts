// Optimizers and schedules, as tsr.optimizers.*.
export { Optimizer, type OptimizerOptions } from './optimizer.js';
export { Adam, adam, adamw, type AdamOptions } from './adam.js';
export { SGD, RMSprop, sgd, rmsprop, type SgdOptions, type RmspropOptions } from './sgd.js';
export { stepDecay, exponentialDecay, cosineDecay, type Schedule, type LearningRate } from './schedules.js';
