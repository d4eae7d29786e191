// Matrix products: batched, with NumPy broadcasting of batch dims; transposed operands are
// passed to the device as strided views, never copied.
import { isFloat } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
import { input } from '../core/expr.js';
import { broadcastShapes, collapseDims, sizeOf } from '../core/shape.js';
import type { View } from '../backends/backend.js';
import { attachGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { evalSumTo } from './apply.js';
import { backendOf, empty, viewAs } from './util.js';
import { contiguous, expand, reshape, swapAxes } from './views.js';

/** A [B, rows, cols] view of t broadcast to batch shape `batch`, or null if batch dims need a copy. */
function batchedView(t: Tensor, batch: readonly number[]): View | null {
  const full = [...batch, t.shape[t.rank - 2]!, t.shape[t.rank - 1]!];
  const v = viewAs(t, full);
  const nb = batch.length;
  const c = collapseDims(batch, [v.strides.slice(0, nb)]);
  if (c.shape.length > 1) return null;
  return { storage: v.storage, shape: [sizeOf(batch), full[nb]!, full[nb + 1]!], strides: [c.strides[0]![0] ?? 0, v.strides[nb]!, v.strides[nb + 1]!], offset: v.offset };
}

/** Views of t broadcast to `batch`, one per index of all batch dims but the last (at most `most`), or null. */
function batchGroups(t: Tensor, batch: readonly number[], most: number): View[] | null {
  const nb = batch.length, groups = sizeOf(batch.slice(0, -1));
  if (nb < 2 || groups > most) return null;
  const v = viewAs(t, [...batch, t.shape[t.rank - 2]!, t.shape[t.rank - 1]!]);
  return Array.from({ length: groups }, (_, g) => {
    let offset = v.offset;
    for (let d = nb - 2, rest = g; d >= 0; d--) { offset += (rest % batch[d]!) * v.strides[d]!; rest = Math.floor(rest / batch[d]!); }
    return { storage: v.storage, shape: [batch[nb - 1]!, v.shape[nb]!, v.shape[nb + 1]!], strides: [v.strides[nb - 1]!, v.strides[nb]!, v.strides[nb + 1]!], offset };
  });
}

/** a @ b for a [..., M, K] and b [..., K, N] (1-D operands as in NumPy); float32, or float16/bfloat16 with float32 accumulation. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  const backend = backendOf(op, [a, b]);
  if (a.dtype !== b.dtype || !isFloat(a.dtype)) fail(op, `expected two float32, float16 or bfloat16 operands of one dtype, got ${a.dtype} ${shapeStr(a.shape)} and ${b.dtype} ${shapeStr(b.shape)}; cast them first`);
  if (a.rank === 0 || b.rank === 0) fail(op, `operands must have at least one dimension, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  if (a.rank === 1 || b.rank === 1) {
    const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
    const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
    const r = matmul(a2, b2);
    const shape = [...r.shape];
    if (b.rank === 1) shape.pop();
    if (a.rank === 1) shape.splice(shape.length - (b.rank === 1 ? 1 : 2), 1);
    return reshape(r, shape);
  }
  const [m, k] = [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [k2, n] = [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  if (k !== k2) fail(op, `inner dimensions differ: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)} (${k} vs ${k2})`);
  const batch = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = empty(backend, [...batch, m, n], a.dtype);
  const B = sizeOf(batch);
  const av0 = batchedView(a, batch), bv0 = batchedView(b, batch);
  // batch dims that no single stride can walk (heads of a permuted [batch, heads, time, dim]):
  // one product per index of the outer ones when there are few, else materialised once
  const groupsA = av0 && bv0 ? null : batchGroups(a, batch, 64), groupsB = groupsA && batchGroups(b, batch, 64);
  if (groupsA && groupsB) {
    const inner = batch[batch.length - 1]!;
    groupsA.forEach((ga, g) => backend.matmul(ga, groupsB[g]!, { ...out.storageView, shape: [inner, m, n], strides: [m * n, n, 1], offset: g * inner * m * n }));
    return attachMatmulGrad(out, a, b);
  }
  const av = av0 ?? batchedView(contiguous(expand(a, [...batch, m, k])), batch)!;
  const bv = bv0 ?? batchedView(contiguous(expand(b, [...batch, k, n])), batch)!;
  // a shared right operand lets the whole batch run as one tall product
  if (B > 1 && bv.strides[0] === 0 && av.strides[0] === m * av.strides[1]! && av.strides[2] === 1) {
    backend.matmul({ ...av, shape: [1, B * m, k], strides: [0, av.strides[1]!, 1] }, bv, { ...out.storageView, shape: [1, B * m, n], strides: [0, n, 1] });
  } else {
    backend.matmul(av, bv, { ...out.storageView, shape: [B, m, n], strides: [m * n, n, 1] });
  }
  return attachMatmulGrad(out, a, b);
}

function attachMatmulGrad(out: Tensor, a: Tensor, b: Tensor): Tensor {
  return attachGrad(out, 'matmul', [a, b], (g, needs) => [
    needs[0] ? sumTo(matmul(g, swapAxes(b, -1, -2)), a.shape) : null,
    needs[1] ? (b.rank === 2 && a.rank > 2 ? sharedRightGrad(a, g) : sumTo(matmul(swapAxes(a, -1, -2), g), b.shape)) : null,
  ]);
}

/** d(a @ b)/db for one b [K, N] shared by every matrix of a [..., M, K]: one product over all rows, not one per matrix and a sum. */
function sharedRightGrad(a: Tensor, g: Tensor): Tensor {
  const k = a.shape[a.rank - 1]!, n = g.shape[g.rank - 1]!;
  return matmul(swapAxes(reshape(a, [-1, k]), 0, 1), reshape(g, [-1, n]));
}

function sumTo(t: Tensor, shape: readonly number[]): Tensor {
  return t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]) ? t : evalSumTo('matmul (gradient)', input(0), [t], shape);
}
