// Max and average pooling over NHWC input.
import type { Tensor } from '../tensor/tensor.js';
import { attachGrad, isGradEnabled } from '../tensor/autograd.js';
import { backendOf, empty, requireFloat } from './util.js';
import { type Padding, type Pair, pair, windowGeometry } from './window-geometry.js';
import { contiguous } from './views.js';

export interface PoolOptions {
  /** window size (default 2) */
  poolSize?: Pair;
  /** step (default: the window size) */
  strides?: Pair;
  padding?: Padding;
}

function pool(kind: 'max' | 'avg', op: string, x: Tensor, opts: PoolOptions): Tensor {
  const backend = backendOf(op, [x]);
  requireFloat(op, x);
  const [ph, pw] = pair(op, 'poolSize', opts.poolSize ?? 2);
  const g = windowGeometry(op, x.shape, ph, pw, opts.strides ?? [ph, pw], opts.padding ?? 'valid');
  const out = empty(backend, [g.batch, g.outH, g.outW, g.channels], 'float32');
  const argmax = kind === 'max' && isGradEnabled() && x.requiresGrad ? empty(backend, out.shape, 'int32') : undefined;
  backend.pool2d(kind, x.storageView, out.storageView, g, argmax?.storageView);
  return attachGrad(out, op, [x], (dy) => {
    const dx = empty(backend, x.shape, 'float32');
    backend.pool2dBackward(kind, contiguous(dy).storageView, dx.storageView, g, argmax?.storageView);
    return [dx];
  });
}

/** Largest value in each window; NHWC. @example tsr.maxPool2d(x, { poolSize: 2 }) */
export const maxPool2d = (x: Tensor, opts: PoolOptions = {}) => pool('max', 'maxPool2d', x, opts);
/** Mean of each window, counting only positions inside the input; NHWC. */
export const avgPool2d = (x: Tensor, opts: PoolOptions = {}) => pool('avg', 'avgPool2d', x, opts);
