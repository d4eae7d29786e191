// Joining and cutting tensors: concat, stack, split, pad.
import { fail, shapeStr } from '../core/errors.js';
import { input } from '../core/expr.js';
import { normalizeAxis } from '../core/shape.js';
import { attachGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { fillLike } from './apply.js';
import { backendOf, empty, viewAs } from './util.js';
import { type SliceRange, slice, unsqueeze } from './views.js';

/** Copies src into the sub-view of dst starting at `starts` (no autograd). */
function copyInto(src: Tensor, dst: Tensor, starts: readonly number[]): void {
  let offset = dst.offset;
  starts.forEach((s, d) => { offset += s * dst.strides[d]!; });
  const target = { storage: dst.storageView.storage, shape: src.shape, strides: dst.strides, offset };
  if (src.size > 0) dst.backend.elementwise([input(0, src.dtype)], [viewAs(src, src.shape)], [target]);
}

/** Joins tensors along an existing axis. @example tsr.concat([a, b], 0) */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const op = 'concat';
  if (tensors.length === 0) fail(op, 'needs at least one tensor');
  const backend = backendOf(op, tensors);
  const first = tensors[0]!;
  const a = normalizeAxis(op, axis, first.rank);
  for (const t of tensors) {
    if (t.dtype !== first.dtype) fail(op, `dtypes differ: ${first.dtype} and ${t.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      fail(op, `shapes ${tensors.map((x) => shapeStr(x.shape)).join(', ')} differ outside axis ${a}`);
    }
  }
  const sizes = tensors.map((t) => t.shape[a]!);
  const shape = [...first.shape];
  shape[a] = sizes.reduce((x, y) => x + y, 0);
  const out = empty(backend, shape, first.dtype);
  let at = 0;
  for (const t of tensors) {
    copyInto(t, out, shape.map((_, d) => (d === a ? at : 0)));
    at += t.shape[a]!;
  }
  return attachGrad(out, op, tensors, (g, needs) => {
    let start = 0;
    return sizes.map((n, i) => {
      const r: SliceRange[] = shape.map((_, d) => (d === a ? [start, start + n] as const : null));
      start += n;
      return needs[i] ? slice(g, r) : null;
    });
  });
}

/** Joins tensors of equal shape along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) fail('stack', 'needs at least one tensor');
  const a = normalizeAxis('stack', axis, tensors[0]!.rank + 1);
  for (const t of tensors) {
    if (t.shape.length !== tensors[0]!.rank || t.shape.some((d, i) => d !== tensors[0]!.shape[i])) {
      fail('stack', `all shapes must be equal, got ${tensors.map((x) => shapeStr(x.shape)).join(', ')}`);
    }
  }
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** Cuts x along axis into `sections` equal parts, or parts of the given sizes (views). */
export function split(x: Tensor, sections: number | readonly number[], axis = 0): Tensor[] {
  const a = normalizeAxis('split', axis, x.rank);
  const n = x.shape[a]!;
  let sizes: number[];
  if (typeof sections === 'number') {
    if (!Number.isInteger(sections) || sections <= 0 || n % sections !== 0) fail('split', `axis ${a} of size ${n} cannot be split into ${sections} equal parts`);
    sizes = new Array<number>(sections).fill(n / sections);
  } else {
    sizes = [...sections];
    if (sizes.some((s) => !Number.isInteger(s) || s < 0) || sizes.reduce((p, q) => p + q, 0) !== n) {
      fail('split', `sizes [${sizes.join(', ')}] must be non-negative and add up to ${n} (axis ${a} of ${shapeStr(x.shape)})`);
    }
  }
  let start = 0;
  return sizes.map((s) => {
    const r = x.shape.map((_, d) => (d === a ? [start, start + s] as const : null));
    start += s;
    return slice(x, r);
  });
}

/** Pads with a constant; `paddings[d] = [before, after]` for each axis. */
export function pad(x: Tensor, paddings: readonly (readonly [number, number])[], value = 0): Tensor {
  const op = 'pad';
  backendOf(op, [x]);
  if (paddings.length !== x.rank) fail(op, `expected ${x.rank} [before, after] pairs for shape ${shapeStr(x.shape)}, got ${paddings.length}`);
  if (paddings.flat().some((p) => !Number.isInteger(p) || p < 0)) fail(op, `paddings must be non-negative integers, got ${JSON.stringify(paddings)}`);
  const shape = x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
  const out = fillLike(x, shape, value, x.dtype);
  copyInto(x, out, paddings.map((p) => p[0]));
  return attachGrad(out, op, [x], (g) => [slice(g, paddings.map((p, d) => [p[0], p[0] + x.shape[d]!] as const))]);
}
