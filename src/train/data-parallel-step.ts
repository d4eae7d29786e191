// fit's data-parallel step: each rank's gradients on its shard, summed over the ranks in
// buckets, then the optimizer's update. The loss is divided by the world size before backward,
// so the sum is the mean. Eager steps start each bucket's reduction as soon as backward has
// made its last gradient; compiled steps (jit) replay two plans, the gradients (returned as one
// flat tensor per bucket) and the update, with the reduction between them.
import { BucketReduction } from '../distributed/buckets.js';
import { checkEveryGradient, gradientBuckets } from '../distributed/data-parallel.js';
import { layerWeightsVersion } from '../nn/layer.js';
import { concat } from '../ops/join.js';
import { reshape, slice } from '../ops/views.js';
import { onGradReady } from '../tensor/autograd.js';
import { type CompileStats, compile } from '../tensor/compile.js';
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

function eagerStep(model: Trainable, opts: DataParallelStepOptions, scale: number, split: Split): DataParallelStep {
  return {
    stats: null,
    dispose() {},
    async run(...batch) {
      const [xs, ys] = split(batch);
      const params = model.parameters(), buckets = gradientBuckets(params, opts.bucketBytes);
      const reduction = await BucketReduction.begin(buckets.map((b) => b.reduce((n, p) => n + p.size, 0)), 'sum', { overlap: true });
      const bucketOf = new Map<Tensor, number>();
      buckets.forEach((b, k) => b.forEach((p) => bucketOf.set(p, k)));
      const waiting = buckets.map((b) => b.length);
      let r: StepResult;
      try {
        r = onGradReady((leaf) => {
          const k = bucketOf.get(leaf);
          if (k !== undefined && --waiting[k]! === 0) reduction.ready(k, buckets[k]!.map((p) => p.grad!));
        }, () => model.gradientStep(xs, ys, scale));
        checkEveryGradient('fit (data-parallel)', params);
      } catch (e) {
        await reduction.cancel();
        throw e;
      }
      const sums = await reduction.finish();
      buckets.forEach((b, k) => b.forEach((p, i) => { p.grad!.dispose(); p.grad = sums[k]![i]!; }));
      model.applyGradients();
      opts.record(xs, r);
    },
  };
}

function compiledStep(model: Trainable, opts: DataParallelStepOptions, scale: number, split: Split): DataParallelStep {
  // the parameters it updates are part of the signature (freezing a layer captures again)
  const key = () => String(layerWeightsVersion());
  const gradients = compile((...batch: Tensor[]): Tensor[] => {
    const [xs, ys] = split(batch);
    opts.record(xs, model.gradientStep(xs, ys, scale));
    const params = model.parameters();
    checkEveryGradient('fit (data-parallel)', params);
    // a bucket of one is its gradient itself, flattened (a view: no copy)
    const flat = gradientBuckets(params, opts.bucketBytes).map((b) => (b.length === 1 ? reshape(b[0]!.grad!, [-1]) : concat(b.map((p) => reshape(p.grad!, [-1])))));
    params.forEach((p) => p.zeroGrad());
    return flat;
  }, { name: 'gradientStep', key });
  const update = compile((...sums: Tensor[]): void => {
    gradientBuckets(model.parameters(), opts.bucketBytes).forEach((b, k) => {
      let at = 0;
      for (const p of b) { p.grad = reshape(slice(sums[k]!, [[at, at + p.size]]), p.shape); at += p.size; }
    });
    model.applyGradients();
  }, { name: 'applyGradients', key });
  return {
    get stats() { return gradients.stats; },
    dispose() { gradients.dispose(); update.dispose(); },
    async run(...batch) {
      const flat = gradients(...batch);
      try {
        const reduction = await BucketReduction.begin(flat.map((t) => t.size), 'sum', { device: flat[0]?.device });
        // each ready() starts that bucket's reduction; the rest of the loop copies the next meanwhile
        // the flat gradients are this step's own: each is summed where it lies
        flat.forEach((t, k) => reduction.ready(k, [t], { consume: true }));
        update(...await reduction.finish().then((b) => b.map((ts) => ts[0]!)));
      } finally {
        flat.forEach((t) => t.dispose());
      }
    },
  };
}
