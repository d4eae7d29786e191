// Host-to-device streaming of training batches: data stays where it is (the host, usually),
// each batch is gathered there and copied to the model's device, and the next batch is made
// while the device works on the current one. One path serves tensors and Datasets.
import { fail, shapeStr } from '../core/errors.js';
import { toDevice } from '../ops/device.js';
import { tensor } from '../ops/creation.js';
import { gather } from '../ops/indexing.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Dataset, type Element, disposeElement } from './dataset.js';

/** A batch on the model's device, one tensor per model input and per output; free() releases everything made for it. */
export interface Batch {
  readonly x: readonly Tensor[];
  readonly y: readonly Tensor[];
  free(): void;
}

/** xs and ys on `device`; the copies are freed with the batch, and so is `owned` (what was made to build it). */
function onDevice(xs: readonly Tensor[], ys: readonly Tensor[], device: string, owned: Element): Batch {
  const xd = xs.map((t) => toDevice(t, device)), yd = ys.map((t) => toDevice(t, device));
  return {
    x: xd, y: yd,
    free() {
      xd.forEach((t, i) => { if (t !== xs[i]) t.dispose(); });
      yd.forEach((t, i) => { if (t !== ys[i]) t.dispose(); });
      disposeElement(owned);
    },
  };
}

/** Rows `order[start..start+batchSize)` of every x and y, gathered where the data lives, then moved (a plain iterator: this runs every step). */
export function tensorBatches(xs: readonly Tensor[], ys: readonly Tensor[], batchSize: number, order: Int32Array, device: string): Iterator<Batch> {
  let start = 0;
  return {
    next(): IteratorResult<Batch> {
      if (start >= order.length) return { done: true, value: undefined };
      const rows = order.subarray(start, Math.min(order.length, start + batchSize));
      start += batchSize;
      // one index tensor per device the data lives on
      const idx = new Map<string, Tensor>();
      const pick = (t: Tensor): Tensor => {
        let i = idx.get(t.device);
        if (!i) idx.set(t.device, i = tensor(rows, { device: t.device }));
        return gather(t, i, 0);
      };
      const xb = xs.map(pick), yb = ys.map(pick);
      idx.forEach((i) => i.dispose());
      return { done: false, value: onDevice(xb, yb, device, [...xb, ...yb]) };
    },
  };
}

/** A dataset element split into the model's inputs and targets (by position or by name). */
export type SplitElement = (element: Element, index: number) => { x: Tensor[]; y: Tensor[] };

/**
 * A Dataset's elements, split by `split`, each checked against the first's per-sample shapes
 * and by `check` (labels, say) where it lives, before it moves.
 */
export async function* datasetBatches(ds: Dataset, device: string, split: SplitElement, check: (x: Tensor[], y: Tensor[]) => Promise<void>): AsyncGenerator<Batch> {
  let first: (readonly number[])[] | null = null;
  let index = 0;
  for await (const element of ds) {
    let parts: { x: Tensor[]; y: Tensor[] };
    try {
      parts = split(element, index);
      const all = [...parts.x, ...parts.y];
      first ??= all.map((t) => t.shape.slice(1));
      all.forEach((t, k) => {
        const want = first![k]!, name = partName(parts, k);
        if (t.rank - 1 !== want.length || want.some((d, i) => d !== t.shape[i + 1])) {
          fail('fit', `dataset element ${index} has ${name} of shape ${shapeStr(t.shape)}, but earlier elements had [batch, ${want.join(', ')}]; every element needs the same per-sample shape`);
        }
        if (t.shape[0] !== all[0]!.shape[0]) fail('fit', `dataset element ${index} has ${all[0]!.shape[0]} rows of x but ${t.shape[0]} of ${name}`);
      });
      await check(parts.x, parts.y);
    } catch (e) {
      disposeElement(element);
      throw e;
    }
    index++;
    yield onDevice(parts.x, parts.y, device, element);
  }
}

/** 'x' or 'y' for a model of one input and output, else x[i] or y[i]. */
function partName(parts: { x: Tensor[]; y: Tensor[] }, k: number): string {
  const [list, i, of] = k < parts.x.length ? ['x', k, parts.x] : ['y', k - parts.x.length, parts.y];
  return of.length === 1 ? list : `${list}[${i}]`;
}

/**
 * Runs `step` on every batch, one ahead: batch n+1 is gathered and uploaded right after step n
 * queued its work, so on a GPU the copy overlaps the compute (CUDA: the pinned uploads; WebGPU:
 * writeBuffer). `step` returns what to await (the step's reads) and whether to stop.
 */
export async function forEachPrefetched(source: Iterator<Batch> | AsyncIterator<Batch>, step: (b: Batch, next: () => void) => Promise<boolean>): Promise<void> {
  let pending: Promise<IteratorResult<Batch>> | null = Promise.resolve(source.next());
  try {
    for (;;) {
      const r: IteratorResult<Batch> = await pending!;
      pending = null;
      if (r.done) return;
      let stop: boolean;
      try {
        stop = await step(r.value, () => { pending = Promise.resolve(source.next()); });
      } finally {
        r.value.free();
      }
      if (stop) return;
      pending ??= Promise.resolve(source.next());
    }
  } finally {
    const left = await (pending as Promise<IteratorResult<Batch>> | null)?.catch(() => null);
    if (left && !left.done) left.value.free();
    await source.return?.();
  }
}
