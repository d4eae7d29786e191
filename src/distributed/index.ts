// tsr.distributed: the processes of a job and the collectives between them, on Open MPI. A
// process no launcher started is a world of one and needs no MPI. Every collective first checks
// that all ranks called the same one on the same shape and dtype, and waits at most the job's
// timeout, so a mistake is an error that says which rank differs, never a hang or a wrong sum.
import type { DType } from '../core/dtype.js';
import { TesseraError, fail, shapeStr } from '../core/errors.js';
import { env } from '../core/platform.js';
import { tensor } from '../ops/creation.js';
import { assignExpr } from '../ops/apply.js';
import * as E from '../core/expr.js';
import { dataOf } from '../backends/cpu/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import { type LaunchInfo, launchInfo } from './launcher.js';
import { type Address, type Mpi, type MpiDType, type MpiOp, type NativeBuffer, openMpi } from './mpi.js';
import { type Output, Staging } from './staging.js';
import { type NcclComm, openNccl, probeNccl } from './nccl.js';
import type { CudaStorage } from '../backends/cuda/launch.js';

export interface DistributedInfo extends LaunchInfo {
  /** the MPI library in use, or null in a world of one */
  mpi: { path: string; version: string } | null;
  /** seconds a collective waits for the other ranks before it fails */
  timeoutSeconds: number;
}

export interface InitOptions {
  /** seconds a collective waits for every rank (default TESSERA_DIST_TIMEOUT, else 300) */
  timeoutSeconds?: number;
}

export type ReduceOp = 'sum' | 'mean' | 'max';

interface State {
  info: DistributedInfo; mpi: Mpi | null; staging: Staging | null; broken: TesseraError | null;
  /** settles when the collective in progress is done: MPI wants one at a time, in the same order on every rank */
  tail: Promise<void>;
  /** the job's NCCL communicator, made when CUDA gradients are first reduced; null: NCCL is not there */
  nccl?: NcclComm | null;
}
let state: State | null = null;

/**
 * Joins the job the launcher started (mpirun, srun): rank, world size and local rank, and MPI
 * when the world has more than one process. Called by every other function here when needed.
 */
export function init(opts: InitOptions = {}): DistributedInfo {
  const timeoutSeconds = opts.timeoutSeconds ?? state?.info.timeoutSeconds ?? Number(env('TESSERA_DIST_TIMEOUT') ?? 300);
  if (!(timeoutSeconds > 0)) fail('distributed', `the timeout must be a positive number of seconds, got ${opts.timeoutSeconds ?? env('TESSERA_DIST_TIMEOUT')}`);
  if (state) {
    state.info.timeoutSeconds = timeoutSeconds;
    return { ...state.info };
  }
  const launch = launchInfo();
  if (launch.worldSize === 1) {
    state = { info: { ...launch, mpi: null, timeoutSeconds }, mpi: null, staging: null, broken: null, tail: Promise.resolve() };
    return { ...state.info };
  }
  const probe = openMpi();
  if ('reason' in probe) fail('distributed', `${launch.launcher} started this process as rank ${launch.rank} of ${launch.worldSize}, but ${probe.reason}`);
  const { mpi } = probe;
  if (mpi.size !== launch.worldSize || mpi.rank !== launch.rank) {
    fail('distributed', `${launch.launcher} says rank ${launch.rank} of ${launch.worldSize}, but MPI says rank ${mpi.rank} of ${mpi.size}: was this process started by a different MPI than ${mpi.path}?`);
  }
  state = { info: { ...launch, mpi: { path: mpi.path, version: mpi.version }, timeoutSeconds }, mpi, staging: new Staging(mpi), broken: null, tail: Promise.resolve() };
  return { ...state.info };
}

export const rank = (): number => init().rank;
export const worldSize = (): number => init().worldSize;
export const localRank = (): number => init().localRank;

/** What each dtype travels as: booleans as bytes, half formats in their float32 host form. */
const WIRE: Record<DType, MpiDType> = { float32: 'float', float16: 'float', bfloat16: 'float', int32: 'int', bool: 'byte' };
const DTYPE_CODES: DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'bool'];
const CALLS = ['allReduce', 'broadcast', 'allGather', 'barrier'] as const;
type Call = typeof CALLS[number];
/** How long a wait polls before the event loop gets a turn. */
const SPIN_MS = 2;
/** call, dtype, rank, size, an argument (op or root), then up to 7 dims */
const HEADER = 12;

function describe(h: Int32Array, at: number): string {
  const call = CALLS[h[at]!] ?? '?', ndim = h[at + 2]!;
  if (call === 'barrier') return 'barrier';
  const dims = Array.from(h.subarray(at + 5, at + 5 + Math.min(ndim, 7)));
  return `${call} of ${DTYPE_CODES[h[at + 1]!]} [${dims.join(', ')}${ndim > 7 ? ', ...' : ''}]${call === 'broadcast' ? ` from rank ${h[at + 4]}` : call === 'allReduce' ? ` (${['sum', 'mean', 'max'][h[at + 4]!]})` : ''}`;
}

function timedOut(s: State, what: string): TesseraError {
  s.broken = new TesseraError('distributed', `${what} on rank ${s.info.rank} of ${s.info.worldSize} waited ${s.info.timeoutSeconds} s for the other ranks: one of them did not make this call (it stopped, crashed, or took another path); every rank must make the same collective calls in the same order`);
  return s.broken;
}

/** Polls a nonblocking request to its end, or to the job's timeout. */
async function poll(s: State, request: unknown, what: string): Promise<void> {
  const mpi = s.mpi!;
  const deadline = performance.now() + s.info.timeoutSeconds * 1000;
  for (;;) {
    // MPI progresses only while polled: poll flat out for a while (as a blocking call would),
    // then give the event loop a turn
    const until = performance.now() + SPIN_MS;
    do if (mpi.done(request)) return; while (performance.now() < until);
    if (performance.now() > deadline) throw timedOut(s, what);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A collective running on MPI's worker thread, or the job's timeout. */
async function within(s: State, work: Promise<void>, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(timedOut(s, what)), s.info.timeoutSeconds * 1000); });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the collective in progress, then holds the job's turn until the returned release is called. */
async function turn(s: State): Promise<() => void> {
  const previous = s.tail;
  let release!: () => void;
  s.tail = new Promise<void>((resolve) => { release = resolve; });
  await previous;
  return release;
}

/** `fn` in the job's turn. */
async function inTurn<T>(s: State, fn: () => Promise<T>): Promise<T> {
  const release = await turn(s);
  try {
    return await fn();
  } finally {
    release();
  }
}

/** The job, checked usable: a world of one has no MPI, and a timed-out job none any more. */
function ready(): State {
  init();
  if (state!.broken) throw new TesseraError('distributed', `the job cannot run collectives after an earlier failure: ${state!.broken.message}`);
  return state!;
}

/** Every rank states its call; a rank that differs fails them all, each naming what every rank asked. */
async function agree(s: State, call: Call, t: Pick<Tensor, 'dtype' | 'rank' | 'size' | 'shape'> | null, argument: number): Promise<void> {
  const mpi = s.mpi!, size = s.info.worldSize;
  const staging = s.staging!, send = staging.take(HEADER * 4), recv = staging.take(HEADER * 4 * size);
  try {
    const mine = new Int32Array(send.bytes, 0, HEADER);
    mine.set([CALLS.indexOf(call), t ? DTYPE_CODES.indexOf(t.dtype) : 0, t?.rank ?? 0, t?.size ?? 0, argument, ...(t?.shape.slice(0, 7) ?? [])]);
    await poll(s, mpi.iallgather(send, recv, HEADER, 'int'), `${call} (checking that every rank made it)`);
    const all = new Int32Array(recv.bytes, 0, HEADER * size);
    const differs = Array.from({ length: size }, (_, r) => r).filter((r) => all.subarray(r * HEADER, (r + 1) * HEADER).some((v, i) => v !== mine[i]));
    if (differs.length) {
      const asked = Array.from({ length: size }, (_, r) => `rank ${r}: ${describe(all, r * HEADER)}`).join('; ');
      fail('distributed', `${call}: the ranks made different calls (${asked}); every rank must call the same collective on the same shape and dtype`);
    }
  } finally {
    staging.give(send);
    staging.give(recv);
  }
}

/** In a world of one every collective gives back the tensor's own values, as a new tensor. */
async function copyOf(t: Tensor, shape: readonly number[] = t.shape): Promise<Tensor> {
  return tensor((await t.data()).slice(), { shape: [...shape], dtype: t.dtype, device: t.device });
}

const OPS: Record<ReduceOp, MpiOp> = { sum: 'sum', mean: 'sum', max: 'max' };

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
export async function allReduce(t: Tensor, op: ReduceOp = 'sum', opts: AllReduceOptions = {}): Promise<Tensor> {
  if (!(op in OPS)) fail('allReduce', `op must be 'sum', 'mean' or 'max', got ${JSON.stringify(op)}`);
  if (t.dtype === 'bool' && op !== 'max') fail('allReduce', `a bool tensor reduces with 'max' (a logical or), not '${op}'`);
  if (t.dtype === 'int32' && op === 'mean') fail('allReduce', `'mean' of an int32 tensor is not whole: cast it to float32 first`);
  const s = ready();
  if (!s.mpi) return opts.inPlace ? t : copyOf(t);
  const what = `allReduce of ${t.dtype} ${shapeStr(t.shape)}`;
  const own = opts.inPlace && t.dtype !== 'float16' && t.dtype !== 'bfloat16' ? s.staging!.addressOf(t) : null;
  if (own !== null) {
    return inTurn(s, async () => {
      await agree(s, 'allReduce', t, Object.keys(OPS).indexOf(op));
      await within(s, s.mpi!.allreduce(own, own, t.size, WIRE[t.dtype], OPS[op]), what);
      if (op === 'mean') divide(heapValues(t), s.info.worldSize);
      return t;
    });
  }
  const result = await inTurn(s, async () => {
    await agree(s, 'allReduce', t, Object.keys(OPS).indexOf(op));
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

/** A contiguous CPU tensor's values where they lie. */
function heapValues(t: Tensor): Float32Array {
  const v = t.storageView;
  return (dataOf(v) as Float32Array).subarray(v.offset, v.offset + t.size);
}

function divide(values: { length: number; [i: number]: number }, by: number): void {
  for (let i = 0; i < values.length; i++) values[i]! /= by;
}

/**
 * Reductions of float tensors over the ranks, one bucket (a list of tensors travelling as one
 * buffer) at a time: each bucket's reduction starts when its tensors exist (`ready`, as backward
 * makes them), in bucket order on every rank, on MPI's worker thread while this one goes on;
 * `finish` waits for them all. For gradients (data parallelism). It holds the job's turn from
 * begin to finish (or cancel); one agreement check covers every bucket.
 */
/** One bucket on its way: a lone CPU tensor goes from its own bytes into a new tensor's; several share a buffer, in place. */
type Part = { address: Address; output: Output } | { address: Address; buffer: NativeBuffer } | { address: Address; own: Tensor };

export class BucketReduction {
  private readonly parts: Part[] = [];
  /** each started bucket's reduction; each starts when the one before has ended */
  private readonly calls: Promise<void>[] = [];
  private readonly given: (readonly Tensor[] | undefined)[];
  private readonly sizes: number[];
  /** finish handed the outputs to its caller */
  private taken = false;
  /** buckets whose lone tensor is reduced in place */
  private readonly consumed = new Set<number>();

  private constructor(private readonly s: State, private readonly op: 'sum' | 'mean', sizes: readonly number[], private readonly release: () => void) {
    this.sizes = [...sizes];
    this.given = sizes.map(() => undefined);
  }

  /**
   * Checks that every rank reduces the same buckets (`sizes`: elements per bucket), then takes
   * them. On `device` 'cuda' a sum goes through NCCL where it is found.
   */
  static async begin(sizes: readonly number[], op: 'sum' | 'mean', device = 'cpu'): Promise<BucketReduction> {
    const s = ready();
    if (!s.mpi) return new BucketReduction(s, op, sizes, () => {});
    const release = await turn(s);
    try {
      // checked as one allReduce of their total size, with the bucket sizes as its shape
      await agree(s, 'allReduce', { dtype: 'float32', rank: sizes.length, size: sizes.reduce((a, b) => a + b, 0), shape: sizes }, Object.keys(OPS).indexOf(op));
      if (device === 'cuda' && op === 'sum' && s.nccl === undefined) s.nccl = await ncclFor(s);
    } catch (e) {
      release();
      throw e;
    }
    return new BucketReduction(s, op, sizes, release);
  }

  /**
   * Bucket k's tensors exist. Its reduction starts now if every earlier bucket's has and the
   * device reads synchronously (CPU, CUDA); otherwise in finish(). `consume`: a bucket of one
   * CPU tensor is reduced where it lies, and finish returns that tensor itself.
   */
  ready(k: number, tensors: readonly Tensor[], opts: { consume?: boolean } = {}): void {
    const bad = tensors.find((t) => t.dtype === 'int32' || t.dtype === 'bool');
    if (bad) fail('allReduce (buckets)', `reduces float tensors, got ${bad.dtype} ${shapeStr(bad.shape)}`);
    const size = tensors.reduce((n, t) => n + t.size, 0);
    if (size !== this.sizes[k]) fail('allReduce (buckets)', `bucket ${k + 1} was declared with ${this.sizes[k]} elements but given ${size}`);
    this.given[k] = tensors;
    if (opts.consume) this.consumed.add(k);
    if (!this.s.mpi) return;
    while (this.calls.length < this.sizes.length && this.given[this.calls.length]?.every((t) => t.backend.readSync)) {
      const j = this.calls.length, bucket = this.given[j]!, staging = this.s.staging!;
      const t = bucket[0]!;
      if (this.s.nccl && this.consumed.has(j) && bucket.length === 1 && t.device === 'cuda' && t.dtype === 'float32' && this.op === 'sum') {
        // in place on the GPU, queued on the compute stream: what runs next there sees the sum
        const v = t.storageView, at = (v.storage as CudaStorage).ptr + BigInt(v.offset * 4);
        this.s.nccl.allReduceSum(at, at, t.size, (t.backend as unknown as { runtime: { stream: unknown } }).runtime.stream);
        this.parts.push({ address: 0, own: t });
        this.calls.push(Promise.resolve());
        continue;
      }
      const own = bucket.length === 1 && bucket[0]!.dtype === 'float32' ? staging.addressOf(bucket[0]!) : null;
      if (own !== null && this.consumed.has(j)) {
        this.start(j, own, { address: own, own: bucket[0]! });
        continue;
      }
      if (own !== null) {
        this.start(j, own, { address: own, output: staging.output(bucket[0]!, bucket[0]!.shape) });
        continue;
      }
      const buffer = staging.take(this.sizes[j]! * 4);
      let at = 0;
      for (const t of bucket) { staging.loadAtSync(buffer, t, at); at += t.size; }
      this.start(j, buffer.address, { address: buffer.address, buffer });
    }
  }

  private start(k: number, send: Address, part: Part): void {
    this.parts.push(part);
    const recv = 'output' in part ? part.output.address : part.address;
    const previous = this.calls[k - 1] ?? Promise.resolve();
    // a failed bucket fails finish(); the next ones do not start
    this.calls.push(previous.then(() => this.s.mpi!.allreduce(send, recv, this.sizes[k]!, 'float', 'sum')));
  }

  /** Every bucket reduced: new tensors in the buckets' nesting (on each tensor's device). */
  async finish(): Promise<Tensor[][]> {
    const { s, sizes } = this;
    try {
      const missing = this.given.findIndex((g) => !g);
      if (missing >= 0) fail('allReduce (buckets)', `bucket ${missing + 1} of ${sizes.length} was never given its tensors`);
      if (!s.mpi) return await Promise.all(this.given.map((b) => Promise.all(b!.map((t) => copyOf(t)))));
      const staging = s.staging!;
      // buckets on devices read asynchronously (WebGPU) start here, in order
      for (let k = this.calls.length; k < sizes.length; k++) {
        const buffer = staging.take(sizes[k]! * 4);
        let at = 0;
        for (const t of this.given[k]!) { await staging.loadAt(buffer, t, at); at += t.size; }
        this.start(k, buffer.address, { address: buffer.address, buffer });
      }
      const out: Tensor[][] = [];
      for (const [k, bucket] of this.given.entries()) {
        await within(s, this.calls[k]!, `reducing gradients (bucket ${k + 1} of ${sizes.length}, ${sizes[k]} floats)`);
        const part = this.parts[k]!;
        if ('own' in part) {
          if (this.op === 'mean') divide(heapValues(part.own), s.info.worldSize);
          out.push([part.own]);
          continue;
        }
        if ('output' in part) {
          if (this.op === 'mean') divide(part.output.values(), s.info.worldSize);
          out.push([part.output.take()]);
          continue;
        }
        if (this.op === 'mean') divide(new Float32Array(part.buffer.bytes, 0, sizes[k]), s.info.worldSize);
        let at = 0;
        out.push(bucket!.map((t) => { const m = staging.store(part.buffer, t, t.shape, at); at += t.size; return m; }));
      }
      this.taken = true;
      return out;
    } finally {
      this.end();
    }
  }

  /** Gives up before finish (the step failed): waits for started reductions, then frees the job's turn. */
  async cancel(): Promise<void> {
    await Promise.allSettled(this.calls);
    this.end();
  }

  /** Frees what the buckets used (their outputs too, unless finish gave them out), except after a timeout: MPI may still write there. */
  private end(): void {
    const parts = this.parts.splice(0);
    if (!this.s.broken) {
      for (const p of parts) {
        if ('buffer' in p) this.s.staging!.give(p.buffer);
        else if ('output' in p && !this.taken) p.output.discard();
      }
    }
    this.release();
  }
}

/** The mean over ranks of every float tensor in `buckets` (new tensors, in the same nesting), each bucket as one buffer. */
export async function meanInBuckets(buckets: readonly (readonly Tensor[])[]): Promise<Tensor[][]> {
  const reduction = await BucketReduction.begin(buckets.map((b) => b.reduce((n, t) => n + t.size, 0)), 'mean');
  try {
    buckets.forEach((b, k) => reduction.ready(k, b));
  } catch (e) {
    await reduction.cancel();
    throw e;
  }
  return reduction.finish();
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
  await inTurn(s, () => agree(s, 'barrier', null, 0));
}

/**
 * The job's NCCL communicator: rank 0's unique id reaches every rank over MPI (called in the
 * job's turn, on every rank at once). Null when no NCCL library loads: CUDA tensors then travel
 * through the host.
 */
async function ncclFor(s: State): Promise<NcclComm | null> {
  if ('reason' in probeNccl()) return null;
  return openNccl(s.info.rank, s.info.worldSize, async (id) => {
    const buffer = s.staging!.take(128), bytes = new Uint8Array(buffer.bytes, 0, 128);
    try {
      if (id) bytes.set(id);
      await within(s, s.mpi!.bcast(buffer.address, 128, 'byte', 0), 'sharing the NCCL unique id from rank 0');
      return bytes.slice();
    } finally {
      s.staging!.give(buffer);
    }
  });
}

/** Leaves the job (MPI_Finalize, and NCCL's communicator); later calls fail. A process may leave once only. */
export function shutdown(): void {
  if (!state?.mpi) return;
  state.nccl?.destroy();
  if (!state.broken) state.mpi.finalize();
  state.broken = new TesseraError('distributed', 'shutdown() was called: this process has left the job');
}


export { syncModel, allReduceGradients } from './data-parallel.js';
