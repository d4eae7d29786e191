// Training: models, losses, metrics, callbacks.
export { Model, type AnyModel, type CompileOptions, type FitOptions, type History, type YieldEvery } from './model.js';
export { type ModelData, type PerOutput } from './model-io.js';
export { Sequential, sequential } from './sequential.js';
export { Functional, model, type FunctionalArgs } from './functional.js';
export * as losses from './losses.js';
export * as metrics from './metrics.js';
export { callbacks, EarlyStopping, LearningRateScheduler, CSVLogger, type Callback, type Logs } from './callbacks.js';
export { ModelCheckpoint, type ModelCheckpointOptions } from './model-checkpoint.js';
