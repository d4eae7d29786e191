// The job behind tsr.distributed: its state (MPI, staging, NCCL), one collective at a time in the
// same order on every rank, the agreement check before each, and the timeouts that turn a rank
// that never comes into an error naming the call.
import type { DType } from '../core/dtype.js';
import { TesseraError, fail } from '../core/errors.js';
import { env } from '../core/platform.js';
import { dataOf } from '../backends/cpu/storage.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { type LaunchInfo, launchInfo } from './launcher.js';
import { FINISHED, type Mpi, type MpiDType, type MpiOp, type NativeBuffer, openMpi } from './mpi.js';
import { type NcclComm, openNccl, probeNccl } from './nccl.js';
import { Staging } from './staging.js';

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

export interface State {
  info: DistributedInfo; mpi: Mpi | null; staging: Staging | null; broken: TesseraError | null;
  /** MPI wants one collective at a time, in the same order on every rank */
  turns: Turns;
  /** where the agreement check's headers go, made once (every collective checks) */
  check: Check | null;
  /** collectives made, and ms spent at their agreement checks waiting for the other ranks */
  calls: number;
  waitMs: number;
  /** the job's NCCL communicator, made when CUDA gradients are first reduced; null: NCCL is not there */
  nccl?: NcclComm | null;
}

/** The collectives waiting for the one in progress, first come first served. */
class Turns {
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  readonly release = (): void => {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  };

  /** The turn, at once when no collective is in progress; `release` hands it on. */
  take(): Promise<void> | undefined {
    if (!this.busy) {
      this.busy = true;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

interface Check { send: NativeBuffer; recv: NativeBuffer; mine: Int32Array; all: Int32Array }
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
    state = { info: { ...launch, mpi: null, timeoutSeconds }, mpi: null, staging: null, broken: null, turns: new Turns(), check: null, calls: 0, waitMs: 0 };
    return { ...state.info };
  }
  const probe = openMpi();
  if ('reason' in probe) fail('distributed', `${launch.launcher} started this process as rank ${launch.rank} of ${launch.worldSize}, but ${probe.reason}`);
  const { mpi } = probe;
  if (mpi.size !== launch.worldSize || mpi.rank !== launch.rank) {
    fail('distributed', `${launch.launcher} says rank ${launch.rank} of ${launch.worldSize}, but MPI says rank ${mpi.rank} of ${mpi.size}: was this process started by a different MPI than ${mpi.path}? (TESSERA_MPI_LIBRARY names the launcher's own)`);
  }
  const send = mpi.allocate(HEADER * 4), recv = mpi.allocate(HEADER * 4 * mpi.size);
  const check = { send, recv, mine: new Int32Array(send.bytes, 0, HEADER), all: new Int32Array(recv.bytes, 0, HEADER * mpi.size) };
  state = { info: { ...launch, mpi: { path: mpi.path, version: mpi.version }, timeoutSeconds }, mpi, staging: new Staging(mpi), broken: null, turns: new Turns(), check, calls: 0, waitMs: 0 };
  return { ...state.info };
}

export const rank = (): number => init().rank;
export const worldSize = (): number => init().worldSize;
export const localRank = (): number => init().localRank;

/** What each dtype travels as: booleans as bytes, half formats in their float32 host form. */
export const WIRE: Record<DType, MpiDType> = { float32: 'float', float16: 'float', bfloat16: 'float', int32: 'int', bool: 'byte' };
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
  return `${call} of ${DTYPE_CODES[h[at + 1]!]} [${dims.join(', ')}${ndim > 7 ? ', ...' : ''}]${call === 'broadcast' ? ` from rank ${h[at + 4]}` : call === 'allReduce' ? ` (${OP_CODES[h[at + 4]!]})` : ''}`;
}

function timedOut(s: State, what: string): TesseraError {
  s.broken = new TesseraError('distributed', `${what} on rank ${s.info.rank} of ${s.info.worldSize} waited ${s.info.timeoutSeconds} s for the other ranks: one of them did not make this call (it stopped, crashed, or took another path); every rank must make the same collective calls in the same order`);
  return s.broken;
}

/** Polls the nonblocking call in flight to its end, or to the job's timeout: undefined when it ended in the first few polls (every rank was there already), else a promise. */
function poll(s: State, what: string): Promise<void> | undefined {
  const mpi = s.mpi!;
  // MPI progresses only while polled: poll flat out for a while (as a blocking call would),
  // then give the event loop a turn
  for (let i = 0; i < 64; i++) if (mpi.done()) return undefined;
  const deadline = performance.now() + s.info.timeoutSeconds * 1000;
  return (async () => {
    for (;;) {
      const until = performance.now() + SPIN_MS;
      do if (mpi.done()) return; while (performance.now() < until);
      if (performance.now() > deadline) throw timedOut(s, what);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
}

/** A collective running on MPI's worker thread, or the job's timeout. */
export async function within(s: State, work: Promise<void>, what: string): Promise<void> {
  // made on this thread: over already
  if (work === FINISHED) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(timedOut(s, what)), s.info.timeoutSeconds * 1000); });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the collective in progress, then holds the job's turn until the returned release is called. */
export async function turn(s: State): Promise<() => void> {
  await s.turns.take();
  return s.turns.release;
}

/** `fn` in the job's turn: run at once when no collective is in progress (a synchronous `fn` then makes no promise wait). */
export function inTurn<T>(s: State, fn: () => T | Promise<T>): Promise<T> {
  const run = (): Promise<T> => {
    let result: T | Promise<T>;
    try {
      result = fn();
    } catch (e) {
      s.turns.release();
      return Promise.reject(e);
    }
    if (result instanceof Promise) return result.finally(s.turns.release);
    s.turns.release();
    return Promise.resolve(result);
  };
  const waiting = s.turns.take();
  return waiting ? waiting.then(run) : run();
}

/** The job, checked usable: a world of one has no MPI, and a timed-out job none any more. */
export function ready(): State {
  init();
  if (state!.broken) throw new TesseraError('distributed', `the job cannot run collectives after an earlier failure: ${state!.broken.message}`);
  return state!;
}

/**
 * Every rank states its call; a rank that differs fails them all, each naming what every rank
 * asked. Done here when the other ranks are there already (undefined), else a promise.
 */
export function agree(s: State, call: Call, t: Stated | null, argument: number): Promise<void> | undefined {
  const compare = propose(s, call, t, argument);
  const waiting = poll(s, checking(call));
  if (!waiting) {
    compare();
    return undefined;
  }
  return waiting.then(compare);
}

/**
 * agree, done before it returns: polled on this thread to the end, or to the job's timeout, for a
 * step that cannot wait for a promise (a compiled step's host step). The caller holds the turn.
 */
export function agreeNow(s: State, call: Call, t: Stated | null, argument: number): void {
  const compare = propose(s, call, t, argument);
  const mpi = s.mpi!, deadline = performance.now() + s.info.timeoutSeconds * 1000;
  for (let i = 1; !mpi.done(); i++) {
    if (i % 256 === 0 && performance.now() > deadline) throw timedOut(s, checking(call));
  }
  compare();
}

type Stated = Pick<Tensor, 'dtype' | 'rank' | 'size' | 'shape'>;
const checking = (call: Call) => `${call} (checking that every rank made it)`;

/**
 * How gradient buckets are stated in the check, by every path that sums them (eager, one plan,
 * two plans): one float32 allReduce of their total size, the bucket sizes its shape.
 */
export const bucketsStated = (sizes: readonly number[]): Stated => ({ dtype: 'float32', rank: sizes.length, size: sizes.reduce((a, b) => a + b, 0), shape: sizes });

/** Starts the agreement allgather of this rank's call; the function it gives compares every rank's once it has completed. */
function propose(s: State, call: Call, t: Stated | null, argument: number): () => void {
  const { send, recv, mine, all } = s.check!;
  mine.fill(0);
  mine[0] = CALLS.indexOf(call);
  if (t) {
    mine[1] = DTYPE_CODES.indexOf(t.dtype); mine[2] = t.rank; mine[3] = t.size;
    for (let d = 0; d < Math.min(t.rank, 7); d++) mine[5 + d] = t.shape[d]!;
  }
  mine[4] = argument;
  const start = performance.now();
  s.mpi!.iallgather(send.address, recv.address, HEADER, 'int');
  return () => {
    s.calls++;
    s.waitMs += performance.now() - start;
    for (let i = 0; i < all.length; i++) {
      if (all[i] !== mine[i % HEADER]) {
        const asked = Array.from({ length: s.info.worldSize }, (_, r) => `rank ${r}: ${describe(all, r * HEADER)}`).join('; ');
        fail('distributed', `${call}: the ranks made different calls (${asked}); every rank must call the same collective on the same shape and dtype`);
      }
    }
  };
}

export interface CollectiveStats {
  /** collectives this process has made (a data-parallel step's gradient buckets count as one) */
  calls: number;
  /**
   * ms spent at their agreement checks, which end when the last rank arrives: mostly waiting for
   * ranks that are behind (a slower rank, one whose step took longer this time)
   */
  waitMs: number;
  /** ms this thread spent inside MPI's data calls, moving and summing the data */
  transferMs: number;
}

/** Where this process's time in collectives went, since it joined the job (counters: take the difference of two calls). */
export function stats(): CollectiveStats {
  init();
  const s = state!;
  return { calls: s.calls, waitMs: s.waitMs, transferMs: s.mpi?.blockedMs ?? 0 };
}

/** In a world of one every collective gives back the tensor's own values, as a new tensor. */
export async function copyOf(t: Tensor, shape: readonly number[] = t.shape): Promise<Tensor> {
  return tensor((await t.data()).slice(), { shape: [...shape], dtype: t.dtype, device: t.device });
}

export const OPS: Record<ReduceOp, MpiOp> = { sum: 'sum', mean: 'sum', max: 'max' };
/** How an allReduce's op is written in the agreement check's header. */
const OP_CODES = Object.keys(OPS) as ReduceOp[];
export const opCode = (op: ReduceOp): number => OP_CODES.indexOf(op);

/** A contiguous CPU tensor's values where they lie. */
export function heapValues(t: Tensor): Float32Array {
  const v = t.storageView;
  return (dataOf(v) as Float32Array).subarray(v.offset, v.offset + t.size);
}

export function divide(values: { length: number; [i: number]: number }, by: number): void {
  for (let i = 0; i < values.length; i++) values[i]! /= by;
}

/**
 * The job's NCCL communicator: rank 0's unique id reaches every rank over MPI (called in the
 * job's turn, on every rank at once). Null when no NCCL library loads: CUDA tensors then travel
 * through the host. A world of one gets a communicator of one.
 */
export async function ncclFor(s: State): Promise<NcclComm | null> {
  if ('reason' in probeNccl()) return null;
  // a world of one keeps its own id
  if (!s.mpi) return openNccl(0, 1, async (id) => id!);
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
  if (!state) return;
  state.nccl?.destroy();
  // a world of one makes another when it next needs one
  state.nccl = undefined;
  if (!state.mpi) return;
  if (!state.broken) state.mpi.finalize();
  state.broken = new TesseraError('distributed', 'shutdown() was called: this process has left the job');
}


