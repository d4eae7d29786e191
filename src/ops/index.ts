// Every op, in one namespace.
export * from './activations.js';
export * from './arith.js';
export * from './conv.js';
export * from './creation.js';
export * from './device.js';
export * from './indexing.js';
export * from './join.js';
export * from './matmul.js';
export * from './nn.js';
export * from './pool.js';
export * from './random.js';
export * from './reduce.js';
export * from './views.js';
export type { Padding, Pair } from './window-geometry.js';
export type { TensorLike } from './util.js';
import './grad-math.js';
export * from './conv-transpose.js';
