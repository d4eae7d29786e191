// A lazy, async Dataset chain (fromTensors -> shuffle -> map -> batch -> prefetch), as in
// TensorFlow.js: elements are produced on demand; each stage owns and frees what it drops.
import { fail } from '../core/errors.js';
import { checkSeed } from '../ops/random.js';
import { concat } from '../ops/join.js';
import { type NestedValues, tensor } from '../ops/creation.js';
import { slice, unsqueeze } from '../ops/views.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/** An element: a tensor, or an array or record of elements (as [[a, b], { cls, reg }] for a model of two inputs and outputs). */
export type Element = Tensor | readonly Element[] | { readonly [k: string]: Element };

/** The element with every tensor replaced by f(tensor, its path of keys). */
function mapTensors(e: Element, f: (t: Tensor, path: readonly string[]) => Tensor, path: readonly string[] = []): Element {
  if (e instanceof Tensor) return f(e, path);
  if (Array.isArray(e)) return e.map((t: Element, i) => mapTensors(t, f, [...path, String(i)]));
  return Object.fromEntries(Object.entries(e).map(([k, t]) => [k, mapTensors(t, f, [...path, k])]));
}

function tensorsOf(e: Element): Tensor[] {
  return e instanceof Tensor ? [e] : (Array.isArray(e) ? (e as readonly Element[]) : Object.values(e)).flatMap(tensorsOf);
}

/** The tensor at a path of keys. */
const tensorAt = (e: Element, path: readonly string[]): Tensor => path.reduce((v, k) => (v as Record<string, Element>)[k]!, e) as Tensor;

export function disposeElement(e: Element): void {
  for (const t of tensorsOf(e)) t.dispose();
}

/** Small seeded generator for shuffling on the host (mulberry32). */
export function hostRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Dataset<T extends Element = Element> implements AsyncIterable<T> {
  constructor(private readonly source: () => AsyncIterator<T>, /** elements per pass, when known */ readonly size?: number) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.source();
  }

  /**
   * One element per row of the given tensors (which must agree in their first dimension).
   * @example tsr.data.Dataset.fromTensors([xs, ys]).shuffle(1000, 1).batch(32)
   */
  static fromTensors<E extends Element>(tensors: E): Dataset<E> {
    const list = tensorsOf(tensors);
    const n = list[0]?.shape[0];
    if (n === undefined) fail('Dataset.fromTensors', 'needs tensors with a first (row) dimension');
    for (const t of list) if (t.shape[0] !== n) fail('Dataset.fromTensors', `first dimensions differ: ${list.map((x) => x.shape[0]).join(' vs ')}`);
    return new Dataset<E>(async function* () {
      for (let i = 0; i < n; i++) yield keepAll(mapTensors(tensors, (t) => slice(t, [i]))) as E;
    }, n);
  }

  /** fromTensors over new tensors made from arrays (nested arrays or typed arrays with a shape). */
  static fromArrays(x: NestedValues | Tensor, y?: NestedValues | Tensor): Dataset<Element> {
    const xt = x instanceof Tensor ? x : tensor(x);
    if (y === undefined) return Dataset.fromTensors(xt);
    return Dataset.fromTensors([xt, y instanceof Tensor ? y : tensor(y)]);
  }

  /** Groups consecutive elements into batches along a new first dimension. */
  batch(batchSize: number, dropRemainder = false): Dataset<T> {
    if (!Number.isInteger(batchSize) || batchSize <= 0) fail('Dataset.batch', `batchSize must be a positive integer, got ${batchSize}`);
    const upstream = this;
    const size = this.size === undefined ? undefined : dropRemainder ? Math.floor(this.size / batchSize) : Math.ceil(this.size / batchSize);
    return new Dataset<T>(async function* () {
      let group: T[] = [];
      const flush = (): T => {
        const first = group[0]!;
        const out = tidy(() => mapTensors(first, (_t, path) => {
          const parts = group.map((e) => tensorAt(e, path));
          return concat(parts.map((p) => unsqueeze(p, 0)), 0);
        }));
        group.forEach(disposeElement);
        group = [];
        return keepAll(out) as T;
      };
      for await (const e of upstream) {
        group.push(e);
        if (group.length === batchSize) yield flush();
      }
      if (group.length && !dropRemainder) yield flush();
      else group.forEach(disposeElement);
    }, size);
  }

  /** Shuffles within a buffer of `bufferSize` elements, reproducibly for a seed. */
  shuffle(bufferSize: number, seed = 0): Dataset<T> {
    if (!Number.isInteger(bufferSize) || bufferSize <= 0) fail('Dataset.shuffle', `bufferSize must be a positive integer, got ${bufferSize}`);
    checkSeed('Dataset.shuffle', seed);
    const upstream = this;
    let pass = 0;
    return new Dataset<T>(async function* () {
      const random = hostRandom(seed + pass++);
      const buffer: T[] = [];
      for await (const e of upstream) {
        if (buffer.length < bufferSize) { buffer.push(e); continue; }
        const j = Math.floor(random() * bufferSize);
        yield buffer[j]!;
        buffer[j] = e;
      }
      while (buffer.length) {
        const j = Math.floor(random() * buffer.length);
        yield buffer.splice(j, 1)[0]!;
      }
    }, this.size);
  }

  /** Applies fn to each element; tensors fn creates and does not return are freed. */
  map<U extends Element>(fn: (e: T) => U): Dataset<U> {
    const upstream = this;
    return new Dataset<U>(async function* () {
      for await (const e of upstream) {
        const out = keepAll(tidy(() => fn(e)));
        if (!tensorsOf(out).some((t) => tensorsOf(e).includes(t))) disposeElement(e);
        yield out as U;
      }
    }, this.size);
  }

  /** Repeats the dataset `count` times (forever if omitted). */
  repeat(count = Infinity): Dataset<T> {
    const upstream = this;
    return new Dataset<T>(async function* () {
      for (let i = 0; i < count; i++) yield* upstream;
    }, this.size === undefined || count === Infinity ? undefined : this.size * count);
  }

  /** The first `count` elements. */
  take(count: number): Dataset<T> {
    const upstream = this;
    return new Dataset<T>(async function* () {
      if (count <= 0) return;
      let i = 0;
      for await (const e of upstream) {
        yield e;
        if (++i >= count) return;
      }
    }, this.size === undefined ? count : Math.min(count, this.size));
  }

  /** Prepares up to `bufferSize` elements ahead while the consumer works on the current one. */
  prefetch(bufferSize = 1): Dataset<T> {
    const upstream = this;
    return new Dataset<T>(async function* () {
      const it = upstream[Symbol.asyncIterator]();
      const queue: Promise<IteratorResult<T>>[] = [];
      for (let i = 0; i < bufferSize; i++) queue.push(it.next());
      for (;;) {
        const r = await queue.shift()!;
        if (r.done) return;
        queue.push(it.next());
        yield r.value;
      }
    }, this.size);
  }

  /** Every element, in order (for small datasets and tests). */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const e of this) out.push(e);
    return out;
  }
}

function keepAll(e: Element): Element {
  for (const t of tensorsOf(e)) keep(t);
  return e;
}
