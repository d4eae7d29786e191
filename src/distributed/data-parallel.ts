// The two halves of data parallelism, for a training loop of one's own (PyTorch DDP's, or
// Horovod's): one model on every rank (rank 0's weights, after checking that every rank built
// the same one), and gradients averaged over ranks in buckets of about 25 MB, in reverse
// parameter order, every bucket's reduction started before the first is waited on.
import { fail, shapeStr } from '../core/errors.js';
import type { Layer } from '../nn/layer.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { meanInBuckets } from './buckets.js';
import { allGather, broadcast, init } from './index.js';

/** PyTorch DDP's default bucket size. */
export const BUCKET_BYTES = 25 * 2 ** 20;
/** Bytes of each rank's model description compared at sync (longer ones are compared by their start and a hash). */
const DESCRIPTION_BYTES = 2048;

function describeModel(model: Layer): string[] {
  return model.namedTensors().map(([name, t]) => `${name} ${shapeStr(t.shape)} ${t.dtype}`);
}

/** A 32-bit FNV-1a hash of the whole description, so a difference past the compared bytes still shows. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Gives every rank rank `root`'s weights (and state, such as batch-norm statistics), after
 * checking that every rank built the same model: one that differs is an error naming the first
 * weight where the ranks part. Call it once, before training.
 */
export async function syncModel(model: Layer, root = 0): Promise<void> {
  const info = init();
  if (info.worldSize === 1) return;
  const lines = describeModel(model), text = lines.join('\n');
  const bytes = new Uint8Array(DESCRIPTION_BYTES + 8);
  new DataView(bytes.buffer).setUint32(0, hash(text), true);
  new DataView(bytes.buffer).setUint32(4, lines.length, true);
  bytes.set(new TextEncoder().encode(text).subarray(0, DESCRIPTION_BYTES), 8);
  const mine = tensor(Int32Array.from(new Int32Array(bytes.buffer)), { dtype: 'int32' });
  const gathered = await allGather(mine);
  mine.dispose();
  const all = new Int32Array(await gathered.data() as Int32Array);
  gathered.dispose();
  const per = bytes.length / 4;
  for (let r = 0; r < info.worldSize; r++) {
    const theirs = new Uint8Array(all.buffer, r * per * 4, per * 4);
    if (theirs.every((b, i) => b === bytes[i])) continue;
    const their = new TextDecoder().decode(theirs.subarray(8)).replace(/\0+$/, '').split('\n');
    const count = new DataView(theirs.buffer, theirs.byteOffset).getUint32(4, true);
    const at = lines.findIndex((l, i) => l !== their[i]);
    const where = at >= 0 && at < their.length ? `weight ${at + 1}: rank ${info.rank} has ${lines[at]}, rank ${r} has ${their[at]}` : `rank ${info.rank} has ${lines.length} weights, rank ${r} has ${count}`;
    fail('syncModel', `the ranks built different models (${where}); every rank must build the same model before training`);
  }
  const synced = [];
  for (const [, t] of model.namedTensors()) synced.push(await broadcast(t, root));
  model.setWeights(synced);
  synced.forEach((t) => t.dispose());
}

/**
 * A gradient this large travels alone: reduced where it lies, its bytes are never copied into a
 * bucket (the dense kernels of the Fashion-MNIST CNN and MLP are 95% and 99% of their gradient
 * bytes). Copying 256 KiB costs about what one more call does (2 ranks on one machine: the MLP's
 * job trained ~3% faster than with 1 MiB, the mean of 8 interleaved pairs).
 */
const ALONE_BYTES = 2 ** 18;

/**
 * `parameters` grouped into buckets of about `bucketBytes`, in reverse order: the last layers'
 * gradients, ready first in backward, go first. One of at least 256 KiB (or the bucket size)
 * is a bucket of its own.
 */
export function gradientBuckets(parameters: readonly Tensor[], bucketBytes = BUCKET_BYTES): Tensor[][] {
  const buckets: Tensor[][] = [];
  let current: Tensor[] = [], bytes = 0;
  const close = () => { if (current.length) buckets.push(current); current = []; bytes = 0; };
  for (const p of [...parameters].reverse()) {
    const size = p.size * 4;
    if (size >= Math.min(ALONE_BYTES, bucketBytes)) { close(); buckets.push([p]); continue; }
    if (bytes + size > bucketBytes) close();
    current.push(p);
    bytes += size;
  }
  close();
  return buckets;
}

/** Fails unless every parameter has a gradient (on every rank each must take part in the loss). */
export function checkEveryGradient(op: string, parameters: readonly Tensor[]): void {
  const missing = parameters.findIndex((p) => !p.grad);
  if (missing >= 0) fail(op, `parameter ${missing + 1} (${shapeStr(parameters[missing]!.shape)}) has no gradient: every parameter must take part in the loss on every rank`);
}

/**
 * Averages the gradients of `parameters` over every rank, in place (each `.grad` is replaced by
 * the mean), in buckets of about `bucketBytes` (default 25 MB) in reverse order.
 */
export async function allReduceGradients(parameters: readonly Tensor[], opts: { bucketBytes?: number } = {}): Promise<void> {
  const info = init();
  if (info.worldSize === 1) return;
  checkEveryGradient('allReduceGradients', parameters);
  const buckets = gradientBuckets(parameters, opts.bucketBytes);
  const means = await meanInBuckets(buckets.map((b) => b.map((p) => p.grad!)));
  buckets.forEach((bucket, k) => bucket.forEach((p, i) => {
    p.grad!.dispose();
    p.grad = means[k]![i]!;
  }));
}
