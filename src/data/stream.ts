// Host-to-device streaming of training batches: data stays where it is (the host, usually),
// each batch is gathered there and copied to the model's device, and the next batch is made
// while the device works on the current one. One path serves tensors and Datasets.
import { fail, shapeStr } from '../core/errors.js';
import { toDevice } from '../ops/device.js';
import { tensor } from '../ops/creation.js';
import { gather } from '../ops/indexing.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Dataset, type Element, disposeElement } from './dataset.js';

/** A batch on the model's device; free() releases everything made for it. */
export interface Batch {
  readonly x: Tensor;
  readonly y: Tensor;
  free(): void;
}

/** x and y on `device`; the copies are freed with the batch, and so is `owned` (what was made to build it). */
function onDevice(x: Tensor, y: Tensor, device: string, owned: Element): Batch {
  const xd = toDevice(x, device), yd = toDevice(y, device);
  return {
    x: xd, y: yd,
    free() {
      if (xd !== x) xd.dispose();
      if (yd !== y) yd.dispose();
      disposeElement(owned);
    },
  };
}

/** Rows `order[start..start+batchSize)` of (x, y), gathered where the data lives, then moved (a plain iterator: this runs every step). */
export function tensorBatches(x: Tensor, y: Tensor, batchSize: number, order: Int32Array, device: string): Iterator<Batch> {
  let start = 0;
  return {
    next(): IteratorResult<Batch> {
      if (start >= order.length) return { done: true, value: undefined };
      const idx = tensor(order.subarray(start, Math.min(order.length, start + batchSize)), { device: x.device });
      start += batchSize;
      const xb = gather(x, idx, 0), yb = gather(y, idx, 0);
      idx.dispose();
      return { done: false, value: onDevice(xb, yb, device, [xb, yb]) };
    },
  };
}

/**
 * A Dataset's [x, y] (or { x, y }) elements, each checked against the first's per-sample shape
 * and by `check` (labels, say) where it lives, before it moves.
 */
export async function* datasetBatches(ds: Dataset, device: string, check: (x: Tensor, y: Tensor) => Promise<void>): AsyncGenerator<Batch> {
  let first: { x: readonly number[]; y: readonly number[] } | null = null;
  let index = 0;
  for await (const element of ds) {
    let pair: [Tensor, Tensor];
    try {
      pair = pairOf(element);
      const [x, y] = pair;
      first ??= { x: x.shape.slice(1), y: y.shape.slice(1) };
      for (const [name, t, want] of [['x', x, first.x], ['y', y, first.y]] as const) {
        if (t.rank - 1 !== want.length || want.some((d, i) => d !== t.shape[i + 1])) {
          fail('fit', `dataset element ${index} has ${name} of shape ${shapeStr(t.shape)}, but earlier elements had [batch, ${want.join(', ')}]; every element needs the same per-sample shape`);
        }
      }
      if (x.shape[0] !== y.shape[0]) fail('fit', `dataset element ${index} has ${x.shape[0]} rows of x but ${y.shape[0]} of y`);
      await check(x, y);
    } catch (e) {
      disposeElement(element);
      throw e;
    }
    index++;
    yield onDevice(pair[0], pair[1], device, element);
  }
}

function pairOf(e: Element): [Tensor, Tensor] {
  if (Array.isArray(e) && e.length === 2) return [e[0]!, e[1]!];
  const r = e as Record<string, Tensor>;
  const xb = r['x'] ?? r['xs'], yb = r['y'] ?? r['ys'];
  if (!xb || !yb) fail('fit', 'dataset elements must be [x, y] or { x, y }');
  return [xb, yb];
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
