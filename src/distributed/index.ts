// tsr.distributed: the processes of a job and the collectives between them, on MPI (Open MPI,
// or MPICH and its kin). A process no launcher started is a world of one and needs no MPI. Every
// collective first checks that all ranks called the same one on the same shape and dtype, and
// waits at most the job's timeout, so a mistake is an error that says which rank differs, never
// a hang or a wrong sum.
import { fail, shapeStr } from '../core/errors.js';
import * as E from '../core/expr.js';
import { assignExpr } from '../ops/apply.js';
import type { Tensor } from '../tensor/tensor.js';
import { OPS, type ReduceOp, type State, WIRE, agree, copyOf, divide, heapValues, inTurn, opCode, ready, within } from './job.js';

export { type CollectiveStats, type DistributedInfo, type InitOptions, type ReduceOp, init, localRank, rank, shutdown, stats, worldSize } from './job.js';
export { meanInBuckets } from './buckets.js';

export interface AllReduceOptions {
  /**
   * Writes the result into `t` and returns it (PyTorch's all_reduce, Horovod's allreduce_): a
   * contiguous CPU tensor is then reduced where it lies, with no copy at all.
   */
  inPlace?: boolean;
}

/**
 * The elementwise sum, mean or max of `t` over every rank, on every rank (a new tensor on t's
 * device, or t itself with inPlace; GPU tensors travel through the host). Booleans reduce with
 * max only (a logical or).
 */
export function allReduce(t: Tensor, op: ReduceOp = 'sum', opts: AllReduceOptions = {}): Promise<Tensor> {
  try {
    if (!(op in OPS)) fail('allReduce', `op must be 'sum', 'mean' or 'max', got ${JSON.stringify(op)}`);
    if (t.dtype === 'bool' && op !== 'max') fail('allReduce', `a bool tensor reduces with 'max' (a logical or), not '${op}'`);
    if (t.dtype === 'int32' && op === 'mean') fail('allReduce', `'mean' of an int32 tensor is not whole: cast it to float32 first`);
    const s = ready();
    if (!s.mpi) return opts.inPlace ? Promise.resolve(t) : copyOf(t);
    const here = t.dtype !== 'float16' && t.dtype !== 'bfloat16' && s.staging!.addressOf(t) !== null;
    return here ? allReduceHere(s, t, op, !!opts.inPlace) : allReduceStaged(s, t, op, opts);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * allReduce of a contiguous CPU tensor, read where it lies and written into itself or a new
 * tensor's bytes, on this thread: no promise waits unless another collective is in progress or a
 * rank is late.
 */
function allReduceHere(s: State, t: Tensor, op: ReduceOp, inPlace: boolean): Promise<Tensor> {
  const reduce = (): Tensor => {
    const out = inPlace ? null : s.staging!.output(t, t.shape);
    try {
      // asked after the output is made, and after any wait: a heap that grew may have moved
      const from = s.staging!.addressOf(t)!;
      s.mpi!.allreduce(from, out ? out.address : from, t.size, WIRE[t.dtype], OPS[op]);
    } catch (e) {
      out?.discard();
      throw e;
    }
    if (op === 'mean') divide(out ? out.values() : heapValues(t), s.info.worldSize);
    return out ? out.take() : t;
  };
  return inTurn(s, () => {
    const waiting = agree(s, 'allReduce', t, opCode(op));
    return waiting ? waiting.then(reduce) : reduce();
  });
}

/** allReduce through native buffers: anything but a contiguous CPU tensor (a GPU's, a view's, a half format's). */
async function allReduceStaged(s: State, t: Tensor, op: ReduceOp, opts: AllReduceOptions): Promise<Tensor> {
  const what = `allReduce of ${t.dtype} ${shapeStr(t.shape)}`;
  const result = await inTurn(s, async () => {
    await agree(s, 'allReduce', t, opCode(op));
    const staging = s.staging!, input = await staging.input(t), output = staging.output(t, t.shape);
    try {
      await within(s, s.mpi!.allreduce(input.address, output.address, t.size, WIRE[t.dtype], OPS[op]), what);
    } catch (e) {
      // after a timeout MPI may still write there: leave it be
      if (!s.broken) { output.discard(); input.done(); }
      throw e;
    }
    input.done();
    if (op === 'mean') divide(output.values(), s.info.worldSize);
    return output.take();
  });
  if (!opts.inPlace) return result;
  assignExpr('allReduce', [t], [E.input(0, t.dtype)], [result]);
  result.dispose();
  return t;
}

/** Rank `root`'s `t` on every rank (each rank passes a tensor of the same shape and dtype). */
export async function broadcast(t: Tensor, root = 0): Promise<Tensor> {
  const s = ready();
  if (!Number.isInteger(root) || root < 0 || root >= s.info.worldSize) fail('broadcast', `root must be a rank from 0 to ${s.info.worldSize - 1}, got ${root}`);
  if (!s.mpi) return copyOf(t);
  return inTurn(s, async () => {
    await agree(s, 'broadcast', t, root);
    const staging = s.staging!, buffer = await staging.load(t);
    try {
      await within(s, s.mpi!.bcast(buffer.address, t.size, WIRE[t.dtype], root), `broadcast of ${t.dtype} ${shapeStr(t.shape)} from rank ${root}`);
      return staging.store(buffer, t, t.shape);
    } finally {
      staging.give(buffer);
    }
  });
}

/** Every rank's `t`, in rank order, joined along a new leading axis: [worldSize, ...t.shape]. */
export async function allGather(t: Tensor): Promise<Tensor> {
  const s = ready();
  const shape = [s.info.worldSize, ...t.shape];
  if (!s.mpi) return copyOf(t, shape);
  return inTurn(s, async () => {
    await agree(s, 'allGather', t, 0);
    const staging = s.staging!, input = await staging.input(t), output = staging.output(t, shape);
    try {
      await within(s, s.mpi!.allgather(input.address, output.address, t.size, WIRE[t.dtype]), `allGather of ${t.dtype} ${shapeStr(t.shape)}`);
    } catch (e) {
      if (!s.broken) { output.discard(); input.done(); }
      throw e;
    }
    input.done();
    return output.take();
  });
}

/** Resolves once every rank has called it (the agreement allgather completes only then). */
export async function barrier(): Promise<void> {
  const s = ready();
  if (!s.mpi) return;
  await inTurn(s, async () => agree(s, 'barrier', null, 0));
}

export { syncModel, allReduceGradients } from './data-parallel.js';
