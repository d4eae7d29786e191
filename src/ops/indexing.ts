// Indexing ops: gather/indexSelect along an axis, and one-hot encoding.
import { TesseraError, fail, shapeStr } from '../core/errors.js';
import * as E from '../core/expr.js';
import { normalizeAxis, sizeOf } from '../core/shape.js';
import { attachGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyExpr, fillLike } from './apply.js';
import { arange } from './creation.js';
import { backendOf, empty } from './util.js';
import { contiguous, reshape } from './views.js';

/**
 * Picks entries of x along `axis` at `indices` (int32, any shape); the result has x's shape
 * with that axis replaced by the indices' shape. @example tsr.gather(embeddings, ids, 0)
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  const op = 'gather';
  const backend = backendOf(op, [x, indices]);
  if (indices.dtype !== 'int32') fail(op, `indices must be int32, got ${indices.dtype} (shape ${shapeStr(indices.shape)})`);
  const a = normalizeAxis(op, axis, x.rank);
  const outer = sizeOf(x.shape.slice(0, a)), len = x.shape[a]!, inner = sizeOf(x.shape.slice(a + 1));
  const xc = contiguous(x);
  const idx = contiguous(indices);
  const n = indices.size;
  const idxView = { storage: idx.storageView.storage, shape: [n], strides: [1], offset: idx.offset };
  backend.checkIndices(idxView, len, (v, p) => new TesseraError(op, `index ${v} at position ${p} is out of range for axis ${a} of size ${len} (x ${shapeStr(x.shape)})`));
  const out = empty(backend, [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)], x.dtype);
  backend.gather(
    { storage: xc.storageView.storage, shape: [outer, len, inner], strides: [len * inner, inner, 1], offset: xc.offset },
    idxView,
    { storage: out.storageView.storage, shape: [outer, n, inner], strides: [n * inner, inner, 1], offset: 0 },
  );
  return attachGrad(out, op, [x, indices], (g) => {
    const gc = contiguous(g);
    const dx = fillLike(x, x.shape, 0);
    backend.scatterAdd(
      { storage: gc.storageView.storage, shape: [outer, n, inner], strides: [n * inner, inner, 1], offset: gc.offset },
      idxView,
      { storage: dx.storageView.storage, shape: [outer, len, inner], strides: [len * inner, inner, 1], offset: 0 },
    );
    return [dx, null];
  });
}

/** gather with 1-D indices (PyTorch's name). */
export function indexSelect(x: Tensor, axis: number, indices: Tensor): Tensor {
  if (indices.rank !== 1) fail('indexSelect', `indices must be 1-D, got shape ${shapeStr(indices.shape)}`);
  return gather(x, indices, axis);
}

/**
 * float32 one-hot rows of length depth for integer indices. An index outside [0, depth) is an
 * error, as in PyTorch (TensorFlow gives a zero row, which hides corrupt labels).
 */
export function oneHot(indices: Tensor, depth: number): Tensor {
  if (indices.dtype !== 'int32') fail('oneHot', `indices must be int32, got ${indices.dtype}`);
  if (!Number.isInteger(depth) || depth <= 0) fail('oneHot', `depth must be a positive integer, got ${depth}`);
  checkIndexRange('oneHot', indices, depth, (v, p) => `index ${v} at position ${p} is out of range for depth ${depth}`);
  const classes = arange(0, depth, 1, { device: indices.device });
  const out = applyExpr('oneHot', E.cast(E.binary('eq', E.input(0, 'int32'), E.input(1, 'int32')), 'float32'), [reshape(indices, [...indices.shape, 1]), classes]);
  classes.dispose();
  return out;
}

/** Every entry of an int32 tensor lies in [0, limit); raised where the device can (see Backend.checkIndices). */
export function checkIndexRange(op: string, indices: Tensor, limit: number, message: (value: number, position: number) => string): void {
  const idx = contiguous(indices);
  idx.backend.checkIndices({ storage: idx.storageView.storage, shape: [idx.size], strides: [1], offset: idx.offset }, limit, (v, p) => new TesseraError(op, message(v, p)));
  if (idx !== indices) idx.dispose();
}
