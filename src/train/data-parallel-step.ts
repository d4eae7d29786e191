// fit's data-parallel step: each rank's gradients on its shard, summed over the ranks in
// buckets, then the optimizer's update. The loss is divided by the world size before backward,
// so the sum is the mean. Where a bucket's reduction overlaps what follows (MPI's worker thread
// on a spare core, NCCL's stream), it starts as soon as backward has made its last gradient:
// eagerly, or in compiled steps (jit) at that point of the gradients' replay; elsewhere every
// bucket once backward is over, in a compiled CPU step inside its one plan, before the update.
import { BucketReduction } from '../distributed/buckets.js';
import { type SumNow, withSumsNow } from '../distributed/in-step.js';
import { checkEveryGradient, gradientBuckets } from '../distributed/data-parallel.js';
import { layerWeightsVersion } from '../nn/layer.js';
import { concat } from '../ops/join.js';
import { reshape, slice } from '../ops/views.js';
import { onGradReady } from '../tensor/autograd.js';
import { keep, tidy } from '../tensor/scope.js';
import { type CompileStats, atReplay, compile } from '../tensor/compile.js';
import type { Tensor } from '../tensor/tensor.js';
import type { StepResult } from './model.js';

/** What a data-parallel step needs of a model. */
interface Trainable {
  parameters(): Tensor[];
  gradientStep(x: readonly Tensor[], y: readonly Tensor[], gradientScale: number): StepResult;
  applyGradients(): void;
}

export interface DataParallelStepOptions {
  worldSize: number;
  /** how many of a batch's tensors are inputs (the rest are targets) */
  inputs: number;
  jit: boolean;
  bucketBytes: number;
  /** logs a step's losses and metric counts (inside the step, so a compiled step records it) */
  record: (xs: Tensor[], r: StepResult) => void;
}

export interface DataParallelStep {
  run(...batch: Tensor[]): Promise<void>;
  /** the gradient half's compile stats (null when eager) */
  readonly stats: CompileStats | null;
  dispose(): void;
}

export function dataParallelStep(model: Trainable, opts: DataParallelStepOptions): DataParallelStep {
  const scale = 1 / opts.worldSize;
  const split = (batch: Tensor[]) => [batch.slice(0, opts.inputs), batch.slice(opts.inputs)] as const;
  return opts.jit ? compiledStep(model, opts, scale, split) : eagerStep(model, opts, scale, split);
}

type Split = (batch: Tensor[]) => readonly [Tensor[], Tensor[]];

/** An onGradReady listener that calls `done(k)` when backward has made bucket k's last gradient. */
function onBucketDone(buckets: readonly (readonly Tensor[])[], done: (k: number) => void): (leaf: Tensor) => void {
  const bucketOf = new Map<Tensor, number>();
  buckets.forEach((b, k) => b.forEach((p) => bucketOf.set(p, k)));
  const waiting = buckets.map((b) => b.length);
  return (leaf) => {
    const k = bucketOf.get(leaf);
    if (k !== undefined && --waiting[k]! === 0) done(k);
  };
}

/** A bucket's gradients as one flat tensor: a lone gradient's own storage, viewed; else a concatenation. */
function flatGradients(bucket: readonly Tensor[]): Tensor {
  return bucket.length === 1 ? reshape(bucket[0]!.grad!, [-1]) : concat(bucket.map((p) => reshape(p.grad!, [-1])));
}

/** Each parameter's gradient becomes its part of its bucket's sum (a view: no copy), replacing what was there. */
function gradientsFrom(buckets: readonly (readonly Tensor[])[], sums: readonly Tensor[]): void {
  buckets.forEach((b, k) => {
    let at = 0;
    for (const p of b) {
      p.grad?.dispose();
      const from = at;
      // the slice between is disposed here, not left to the GC
      p.grad = tidy(() => reshape(slice(sums[k]!, [[from, from + p.size]]), p.shape));
      at += p.size;
    }
  });
}

/** The buckets' sums, one tensor each: a bucket summed where it lay is its own tensor (disposed by the caller); one that went through the host, a new tensor. */
function summedBuckets(sums: readonly Tensor[][], flat: readonly Tensor[], handed: readonly Tensor[] = []): Tensor[] {
  return sums.map(([t], k) => (t === handed[k] || t === flat[k] ? flat[k]! : (flat[k]!.dispose(), t!)));
}

function eagerStep(model: Trainable, opts: DataParallelStepOptions, scale: number, split: Split): DataParallelStep {
  return {
    stats: null,
    dispose() {},
    async run(...batch) {
      const [xs, ys] = split(batch);
      const params = model.parameters(), buckets = gradientBuckets(params, opts.bucketBytes), device = params[0]?.device ?? 'cpu';
      const sizes = buckets.map((b) => b.reduce((n, p) => n + p.size, 0));
      // each bucket travels as one flat tensor on its device (NCCL sums it there), summed in place
      let reduction: BucketReduction | null = null, r: StepResult, flat: Tensor[] = [];
      try {
        if (BucketReduction.overlapsOn(device)) {
          // each bucket starts as soon as backward has made its last gradient
          const started = (reduction = await BucketReduction.begin(sizes, 'sum', { device, overlap: true }));
          r = onGradReady(onBucketDone(buckets, (k) => started.ready(k, [(flat[k] = keep(flatGradients(buckets[k]!)))], { consume: true })), () => model.gradientStep(xs, ys, scale));
          checkEveryGradient('fit (data-parallel)', params);
        } else {
          // every bucket once backward is over: the agreement check then waits for the other ranks
          r = model.gradientStep(xs, ys, scale);
          checkEveryGradient('fit (data-parallel)', params);
          flat = buckets.map((b) => keep(flatGradients(b)));
          reduction = await BucketReduction.begin(sizes, 'sum', { device, overlap: true });
          flat.forEach((t, k) => reduction!.ready(k, [t], { consume: true }));
        }
      } catch (e) {
        flat.forEach((t) => t?.dispose());
        await reduction?.cancel();
        throw e;
      }
      const summed = summedBuckets(await reduction.finish(), flat);
      gradientsFrom(buckets, summed);
      summed.forEach((t) => t.dispose());
      model.applyGradients();
      opts.record(xs, r);
    },
  };
}

/**
 * Compiled steps: on CPU, where a bucket's sum runs on this thread, one plan of gradients, sums
 * (a host step, blocking) and update; elsewhere two plans, gradients and update, the buckets
 * summed between them or started in the gradients' replay.
 */
function compiledStep(model: Trainable, opts: DataParallelStepOptions, scale: number, split: Split): DataParallelStep {
  // the parameters it updates are part of the signature (freezing a layer captures again)
  const key = () => String(layerWeightsVersion());
  const whole = onePlanStep(model, opts, scale, split, key), halves = twoPlanStep(model, opts, scale, split, key);
  let last = whole;
  return {
    get stats() { return last.stats; },
    dispose() { whole.dispose(); halves.dispose(); },
    run(...batch) {
      const device = model.parameters()[0]?.device ?? 'cpu';
      last = device === 'cpu' && !BucketReduction.startsInReplay(device) ? whole : halves;
      return last.run(...batch);
    },
  };
}

function onePlanStep(model: Trainable, opts: DataParallelStepOptions, scale: number, split: Split, key: () => string): DataParallelStep {
  /** the sum of the step in progress */
  let sum: SumNow | null = null;
  const step = compile((...batch: Tensor[]): void => {
    const [xs, ys] = split(batch);
    const params = model.parameters(), buckets = gradientBuckets(params, opts.bucketBytes);
    const r = model.gradientStep(xs, ys, scale);
    opts.record(xs, r);
    checkEveryGradient('fit (data-parallel)', params);
    // every bucket once backward is over (the agreement check then waits for the other ranks),
    // in this step's own memory; the update reads the sums there
    const flat = buckets.map(flatGradients);
    atReplay(flat, (lent) => sum!(lent));
    gradientsFrom(buckets, flat);
    model.applyGradients();
  }, { name: 'dataParallelStep', key });
  return {
    get stats() { return step.stats; },
    dispose() { step.dispose(); },
    run: (...batch) => withSumsNow((now) => {
      sum = now;
      try {
        step(...batch);
      } finally {
        sum = null;
      }
    }),
  };
}

function twoPlanStep(model: Trainable, opts: DataParallelStepOptions, scale: number, split: Split, key: () => string): DataParallelStep {
  /** this step's reduction while the gradients run when they hand it their buckets, and the tensor each bucket was handed as */
  let reduction: BucketReduction | null = null;
  let handed: Tensor[] = [];
  const gradients = compile((...batch: Tensor[]): Tensor[] => {
    const [xs, ys] = split(batch);
    const params = model.parameters(), buckets = gradientBuckets(params, opts.bucketBytes);
    const flat: Tensor[] = [];
    const r = onGradReady(onBucketDone(buckets, (k) => {
      // a bucket of one is its gradient itself, flattened (a view: no copy); made inside
      // backward's scope, kept past it as the step's result
      const t = (flat[k] = keep(flatGradients(buckets[k]!)));
      // where the sum overlaps the rest of backward with no read through the host, it starts
      // here, in each replay too; elsewhere once the replay is over
      if (reduction) atReplay([t], ([lent]) => { if (reduction) reduction.ready(k, [(handed[k] = lent!)], { consume: true }); });
    }), () => model.gradientStep(xs, ys, scale));
    opts.record(xs, r);
    checkEveryGradient('fit (data-parallel)', params);
    params.forEach((p) => p.zeroGrad());
    return flat;
  }, { name: 'gradientStep', key });
  const update = compile((...sums: Tensor[]): void => {
    gradientsFrom(gradientBuckets(model.parameters(), opts.bucketBytes), sums);
    model.applyGradients();
  }, { name: 'applyGradients', key });
  return {
    get stats() { return gradients.stats; },
    dispose() { gradients.dispose(); update.dispose(); },
    async run(...batch) {
      const params = model.parameters(), device = params[0]?.device ?? 'cpu';
      const sizes = gradientBuckets(params, opts.bucketBytes).map((b) => b.reduce((n, p) => n + p.size, 0));
      handed = [];
      let flat: Tensor[] = [], sums: Tensor[][], r: BucketReduction | null = null;
      try {
        if (BucketReduction.startsInReplay(device)) {
          // the replay starts every bucket; its results are copied out once they are sums
          r = reduction = await BucketReduction.begin(sizes, 'sum', { device, overlap: true });
          const take = gradients.launch(...batch);
          sums = await r.finish();
          flat = take();
        } else {
          // every bucket once backward is over: the agreement check then waits for the other
          // ranks, and the sums run in step
          flat = gradients(...batch);
          r = await BucketReduction.begin(sizes, 'sum', { device, overlap: true });
          flat.forEach((t, k) => r!.ready(k, [t], { consume: true }));
          sums = await r.finish();
        }
      } catch (e) {
        flat.forEach((t) => t.dispose());
        await r?.cancel();
        throw e;
      } finally {
        reduction = null;
      }
      const summed = summedBuckets(sums, flat, handed);
      try {
        update(...summed);
      } finally {
        summed.forEach((t) => t.dispose());
      }
    },
  };
}
