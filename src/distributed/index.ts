// tsr.distributed: the processes of a job and the collectives between them, on Open MPI. A
// process no launcher started is a world of one and needs no MPI. Every collective first checks
// that all ranks called the same one on the same shape and dtype, and waits at most the job's
// timeout, so a mistake is an error that says which rank differs, never a hang or a wrong sum.
import type { DType } from '../core/dtype.js';
import { TesseraError, fail, shapeStr } from '../core/errors.js';
import { env } from '../core/platform.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { type LaunchInfo, launchInfo } from './launcher.js';
import { type Mpi, type MpiDType, type MpiOp, type NativeBuffer, openMpi } from './mpi.js';

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

interface State { info: DistributedInfo; mpi: Mpi | null; broken: TesseraError | null }
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
    state = { info: { ...launch, mpi: null, timeoutSeconds }, mpi: null, broken: null };
    return { ...state.info };
  }
  const probe = openMpi();
  if ('reason' in probe) fail('distributed', `${launch.launcher} started this process as rank ${launch.rank} of ${launch.worldSize}, but ${probe.reason}`);
  const { mpi } = probe;
  if (mpi.size !== launch.worldSize || mpi.rank !== launch.rank) {
    fail('distributed', `${launch.launcher} says rank ${launch.rank} of ${launch.worldSize}, but MPI says rank ${mpi.rank} of ${mpi.size}: was this process started by a different MPI than ${mpi.path}?`);
  }
  state = { info: { ...launch, mpi: { path: mpi.path, version: mpi.version }, timeoutSeconds }, mpi, broken: null };
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
/** call, dtype, rank, size, an argument (op or root), then up to 7 dims */
const HEADER = 12;

function describe(h: Int32Array, at: number): string {
  const call = CALLS[h[at]!] ?? '?', ndim = h[at + 2]!;
  if (call === 'barrier') return 'barrier';
  const dims = Array.from(h.subarray(at + 5, at + 5 + Math.min(ndim, 7)));
  return `${call} of ${DTYPE_CODES[h[at + 1]!]} [${dims.join(', ')}${ndim > 7 ? ', ...' : ''}]${call === 'broadcast' ? ` from rank ${h[at + 4]}` : call === 'allReduce' ? ` (${['sum', 'mean', 'max'][h[at + 4]!]})` : ''}`;
}

async function wait(s: State, request: unknown, what: string): Promise<void> {
  const mpi = s.mpi!;
  // small messages finish within a few polls; then the event loop gets its turns between polls
  for (let i = 0; i < 200; i++) if (mpi.done(request)) return;
  const deadline = performance.now() + s.info.timeoutSeconds * 1000;
  while (!mpi.done(request)) {
    if (performance.now() > deadline) {
      s.broken = new TesseraError('distributed', `${what} on rank ${s.info.rank} of ${s.info.worldSize} waited ${s.info.timeoutSeconds} s for the other ranks: one of them did not make this call (it stopped, crashed, or took another path); every rank must make the same collective calls in the same order`);
      throw s.broken;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The job, checked usable: a world of one has no MPI, and a timed-out job none any more. */
function ready(): State {
  init();
  if (state!.broken) throw new TesseraError('distributed', `the job cannot run collectives after an earlier failure: ${state!.broken.message}`);
  return state!;
}

/** Every rank states its call; a rank that differs fails them all, each naming what every rank asked. */
async function agree(s: State, call: Call, t: Tensor | null, argument: number): Promise<void> {
  const mpi = s.mpi!, size = s.info.worldSize;
  const send = mpi.allocate(HEADER * 4), recv = mpi.allocate(HEADER * 4 * size);
  try {
    const mine = new Int32Array(send.bytes);
    mine.set([CALLS.indexOf(call), t ? DTYPE_CODES.indexOf(t.dtype) : 0, t?.rank ?? 0, t?.size ?? 0, argument, ...(t?.shape.slice(0, 7) ?? [])]);
    await wait(s, mpi.iallgather(send, recv, HEADER, 'int'), `${call} (checking that every rank made it)`);
    const all = new Int32Array(recv.bytes);
    const differs = Array.from({ length: size }, (_, r) => r).filter((r) => all.subarray(r * HEADER, (r + 1) * HEADER).some((v, i) => v !== mine[i]));
    if (differs.length) {
      const asked = Array.from({ length: size }, (_, r) => `rank ${r}: ${describe(all, r * HEADER)}`).join('; ');
      fail('distributed', `${call}: the ranks made different calls (${asked}); every rank must call the same collective on the same shape and dtype`);
    }
  } finally {
    send.free();
    recv.free();
  }
}

/** A tensor's host values in a native buffer that the collective works in. */
async function staged(s: State, t: Tensor, count = t.size): Promise<NativeBuffer> {
  const values = await t.data();
  const buffer = s.mpi!.allocate(count * (t.dtype === 'bool' ? 1 : 4));
  const view = t.dtype === 'bool' ? new Uint8Array(buffer.bytes) : t.dtype === 'int32' ? new Int32Array(buffer.bytes) : new Float32Array(buffer.bytes);
  view.set(values as ArrayLike<number>);
  return buffer;
}

function unstaged(buffer: NativeBuffer, t: Tensor, shape: readonly number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const view = t.dtype === 'bool' ? new Uint8Array(buffer.bytes, 0, n) : t.dtype === 'int32' ? new Int32Array(buffer.bytes, 0, n) : new Float32Array(buffer.bytes, 0, n);
  return tensor(view.slice(), { shape: [...shape], dtype: t.dtype, device: t.device });
}

const OPS: Record<ReduceOp, MpiOp> = { sum: 'sum', mean: 'sum', max: 'max' };

/**
 * The elementwise sum, mean or max of `t` over every rank, on every rank (a new tensor on t's
 * device; GPU tensors travel through the host). Booleans reduce with max only (a logical or).
 */
export async function allReduce(t: Tensor, op: ReduceOp = 'sum'): Promise<Tensor> {
  if (!(op in OPS)) fail('allReduce', `op must be 'sum', 'mean' or 'max', got ${JSON.stringify(op)}`);
  if (t.dtype === 'bool' && op !== 'max') fail('allReduce', `a bool tensor reduces with 'max' (a logical or), not '${op}'`);
  if (t.dtype === 'int32' && op === 'mean') fail('allReduce', `'mean' of an int32 tensor is not whole: cast it to float32 first`);
  const s = ready();
  if (!s.mpi) return tensor((await t.data()).slice(), { shape: [...t.shape], dtype: t.dtype, device: t.device });
  await agree(s, 'allReduce', t, Object.keys(OPS).indexOf(op));
  const buffer = await staged(s, t);
  try {
    await wait(s, s.mpi.iallreduce(buffer, t.size, WIRE[t.dtype], OPS[op]), `allReduce of ${t.dtype} ${shapeStr(t.shape)}`);
    if (op === 'mean') {
      const v = new Float32Array(buffer.bytes, 0, t.size);
      for (let i = 0; i < v.length; i++) v[i]! /= s.info.worldSize;
    }
    return unstaged(buffer, t, t.shape);
  } finally {
    buffer.free();
  }
}

/** Rank `root`'s `t` on every rank (each rank passes a tensor of the same shape and dtype). */
export async function broadcast(t: Tensor, root = 0): Promise<Tensor> {
  const s = ready();
  if (!Number.isInteger(root) || root < 0 || root >= s.info.worldSize) fail('broadcast', `root must be a rank from 0 to ${s.info.worldSize - 1}, got ${root}`);
  if (!s.mpi) return tensor((await t.data()).slice(), { shape: [...t.shape], dtype: t.dtype, device: t.device });
  await agree(s, 'broadcast', t, root);
  const buffer = await staged(s, t);
  try {
    await wait(s, s.mpi.ibcast(buffer, t.size, WIRE[t.dtype], root), `broadcast of ${t.dtype} ${shapeStr(t.shape)} from rank ${root}`);
    return unstaged(buffer, t, t.shape);
  } finally {
    buffer.free();
  }
}

/** Every rank's `t`, in rank order, joined along a new leading axis: [worldSize, ...t.shape]. */
export async function allGather(t: Tensor): Promise<Tensor> {
  const s = ready();
  const shape = [s.info.worldSize, ...t.shape];
  if (!s.mpi) return tensor((await t.data()).slice(), { shape, dtype: t.dtype, device: t.device });
  await agree(s, 'allGather', t, 0);
  const send = await staged(s, t), recv = s.mpi.allocate(t.size * s.info.worldSize * (t.dtype === 'bool' ? 1 : 4));
  try {
    await wait(s, s.mpi.iallgather(send, recv, t.size, WIRE[t.dtype]), `allGather of ${t.dtype} ${shapeStr(t.shape)}`);
    return unstaged(recv, t, shape);
  } finally {
    send.free();
    recv.free();
  }
}

/** Resolves once every rank has called it. */
export async function barrier(): Promise<void> {
  const s = ready();
  if (!s.mpi) return;
  await agree(s, 'barrier', null, 0);
  await wait(s, s.mpi.ibarrier(), 'barrier');
}

/** Leaves the job (MPI_Finalize); later calls fail. A process may leave once only. */
export function shutdown(): void {
  if (!state?.mpi) return;
  if (!state.broken) state.mpi.finalize();
  state.broken = new TesseraError('distributed', 'shutdown() was called: this process has left the job');
}

