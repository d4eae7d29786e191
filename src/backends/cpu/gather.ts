// Gather and scatter-add along one axis, with index checking.
import { fail } from '../../core/errors.js';
import type { IndexError, View } from '../backend.js';
import { heap } from './heap.js';
import { dataOf } from './storage.js';

function checkIndex(op: string, idx: number, length: number): void {
  if (idx < 0 || idx >= length) fail(op, `index ${idx} is out of range for an axis of size ${length}`);
}

/** Raises for the first index outside [0, limit), synchronously (the host sees CPU memory). */
export function checkIndices(indices: View, limit: number, error: IndexError): void {
  const I = dataOf(indices), n = indices.shape[0]!, is = indices.strides[0] ?? 1;
  for (let j = 0; j < n; j++) {
    const v = I[indices.offset + j * is]!;
    if (v < 0 || v >= limit) throw error(v, j);
  }
}

/** x: [outer, len, inner] view; indices: [n]; out: [outer, n, inner] view. */
export function gather(x: View, indices: View, out: View): void {
  const X = dataOf(x), I = dataOf(indices), O = dataOf(out);
  const [outer, len, inner] = x.shape as [number, number, number];
  const n = out.shape[1]!;
  const [xs0, xs1, xs2] = x.strides as [number, number, number];
  const [os0, os1, os2] = out.strides as [number, number, number];
  const is = indices.strides[0] ?? 1;
  // contiguous 4-byte rows move with copyWithin on a whole-heap view: no allocation, memmove speed
  const words = inner >= 16 && xs2 === 1 && os2 === 1 && X.BYTES_PER_ELEMENT === 4 ? heap.words() : null;
  const xBase = X.byteOffset / 4, oBase = O.byteOffset / 4;
  for (let j = 0; j < n; j++) {
    const idx = I[indices.offset + j * is]!;
    checkIndex('gather', idx, len);
    for (let a = 0; a < outer; a++) {
      const src = x.offset + a * xs0 + idx * xs1, dst = out.offset + a * os0 + j * os1;
      if (words) words.copyWithin(oBase + dst, xBase + src, xBase + src + inner);
      else for (let b = 0; b < inner; b++) O[dst + b * os2] = X[src + b * xs2]!;
    }
  }
}

/** src: [outer, n, inner]; out: [outer, len, inner] (accumulated into). */
export function scatterAdd(src: View, indices: View, out: View): void {
  const S = dataOf(src), I = dataOf(indices), O = dataOf(out);
  const [outer, n, inner] = src.shape as [number, number, number];
  const len = out.shape[1]!;
  const [ss0, ss1, ss2] = src.strides as [number, number, number];
  const [os0, os1, os2] = out.strides as [number, number, number];
  const is = indices.strides[0] ?? 1;
  for (let j = 0; j < n; j++) {
    const idx = I[indices.offset + j * is]!;
    checkIndex('scatterAdd', idx, len);
    for (let a = 0; a < outer; a++) {
      const from = src.offset + a * ss0 + j * ss1, to = out.offset + a * os0 + idx * os1;
      for (let b = 0; b < inner; b++) O[to + b * os2] += S[from + b * ss2]!;
    }
  }
}
