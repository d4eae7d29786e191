// Gradient buckets reduced over the ranks as backward makes them (data parallelism).
import { fail, shapeStr } from '../core/errors.js';
import { env } from '../core/platform.js';
import type { CudaBackend } from '../backends/cuda/cuda-backend.js';
import type { CudaStorage } from '../backends/cuda/launch.js';
import type { CudaRuntime } from '../backends/cuda/runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import { type State, agree, bucketsStated, copyOf, divide, heapValues, ncclFor, opCode, ready, turn, within } from './job.js';
import { probeNccl } from './nccl.js';
import { FINISHED, type Address, type NativeBuffer } from './mpi.js';
import { coresOfThisProcess } from './launcher.js';
import { probeBlas } from '../backends/cpu/blas.js';
import type { Output } from './staging.js';

/**
 * One bucket on its way: a lone tensor summed where it lies (own: consumed, or NCCL's), or from
 * its bytes into a new tensor's (output); several share a native buffer, in place.
 */
type Part = { address: Address; output: Output } | { address: Address; buffer: NativeBuffer } | { address: Address; own: Tensor };

/**
 * Reductions of float tensors over the ranks, one bucket (a list of tensors travelling as one
 * buffer) at a time, in bucket order on every rank: a bucket whose sum overlaps this thread's
 * work (MPI's worker thread on a spare core, NCCL's stream) starts when its tensors exist
 * (`ready`, as backward makes them), the others in `finish`, which waits for them all. For
 * gradients (data parallelism). It holds the job's turn from begin to finish (or cancel); one
 * agreement check covers every bucket.
 */
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
  /** the GPU whose collectives' stream holds this reduction's NCCL sums */
  private gpu: CudaRuntime | null = null;

  private constructor(private readonly s: State, private readonly op: 'sum' | 'mean', sizes: readonly number[], /** large buckets travel on MPI's worker thread */ private readonly background: boolean, private readonly release: () => void) {
    this.sizes = [...sizes];
    this.given = sizes.map(() => undefined);
  }

  /**
   * Checks that every rank reduces the same buckets (`sizes`: elements per bucket), then takes
   * them. On `device` 'cuda' a sum goes through NCCL where it is found. `overlap`: the caller
   * has work to do here while the buckets travel (backward still going): a large bucket then
   * travels on MPI's worker thread, if this process has a core its compute leaves free
   * (TESSERA_DIST_OVERLAP=1 or 0: always or never).
   */
  static async begin(sizes: readonly number[], op: 'sum' | 'mean', opts: { device?: string; overlap?: boolean } = {}): Promise<BucketReduction> {
    const s = ready(), device = opts.device ?? 'cpu', background = (opts.overlap ?? false) && onWorker(device);
    if (!s.mpi) {
      // a world of one (fit with distributed: true): on CUDA the sums still go through NCCL, a
      // communicator of one, so one GPU runs the data-parallel step as a job's rank does
      if (device === 'cuda' && op === 'sum' && s.nccl === undefined) s.nccl = await ncclFor(s);
      return new BucketReduction(s, op, sizes, background, () => {});
    }
    const release = await turn(s);
    try {
      await agree(s, 'allReduce', bucketsStated(sizes), opCode(op));
      if (device === 'cuda' && op === 'sum' && s.nccl === undefined) s.nccl = await ncclFor(s);
    } catch (e) {
      release();
      throw e;
    }
    return new BucketReduction(s, op, sizes, background, release);
  }

  /**
   * Bucket k's tensors exist. Its reduction starts now if it overlaps what this thread does
   * next (MPI's worker thread, NCCL's stream), every earlier bucket's has, and the device reads
   * synchronously (CPU, CUDA); otherwise in finish(): summed here, it would make backward wait
   * for the other ranks at each bucket instead of once. `consume`: a bucket of one CPU tensor
   * is reduced where it lies, and finish returns that tensor itself.
   */
  ready(k: number, tensors: readonly Tensor[], opts: { consume?: boolean } = {}): void {
    const bad = tensors.find((t) => t.dtype === 'int32' || t.dtype === 'bool');
    if (bad) fail('allReduce (buckets)', `reduces float tensors, got ${bad.dtype} ${shapeStr(bad.shape)}`);
    const size = tensors.reduce((n, t) => n + t.size, 0);
    if (size !== this.sizes[k]) fail('allReduce (buckets)', `bucket ${k + 1} was declared with ${this.sizes[k]} elements but given ${size}`);
    this.given[k] = tensors;
    if (opts.consume) this.consumed.add(k);
    if (this.overlaps) this.startGiven();
  }

  /** Whether a bucket's reduction starts when it is ready and runs while this thread goes on: on MPI's worker thread, or NCCL's stream. */
  get overlaps(): boolean { return this.background || !!this.s.nccl; }

  /**
   * Whether a compiled step on `device` should hand its buckets (each one float32 tensor) to an
   * overlapping sum in the middle of its replay: where the sum starts there, overlaps the rest
   * (`overlaps`) and needs no read through the host (CPU memory, NCCL on CUDA). Asked before
   * the step's `begin`, which a step that sums after backward makes after its compute.
   */
  static startsInReplay(device: string): boolean {
    return device === 'cuda' ? ncclThere() : device === 'cpu' && ready().mpi !== null && onWorker(device);
  }

  /** Whether buckets on `device` would start as they are given and overlap what follows (an eager backward): on NCCL, or MPI's worker thread. */
  static overlapsOn(device: string): boolean {
    if (device === 'cuda' && ncclThere()) return true;
    // WebGPU reads asynchronously: its buckets start in finish
    return (device === 'cpu' || device === 'cuda') && ready().mpi !== null && onWorker(device);
  }

  /** Starts the given buckets, in order, up to the first not given or on a device read asynchronously. */
  private startGiven(): void {
    if (!this.s.mpi && !this.s.nccl) return;
    while (this.calls.length < this.sizes.length && this.given[this.calls.length]?.every((t) => t.backend.readSync)) {
      const j = this.calls.length, bucket = this.given[j]!, staging = this.s.staging!;
      const t = bucket[0]!, lone = bucket.length === 1;
      if (this.s.nccl && this.consumed.has(j) && lone && t.device === 'cuda' && t.dtype === 'float32' && this.op === 'sum') {
        // in place on the GPU, on the collectives' own stream once the compute stream has made
        // the bucket, so the rest of backward runs beside it; end() makes the compute stream
        // wait for every sum before what follows the step
        const v = t.storageView, at = (v.storage as CudaStorage).ptr + BigInt(v.offset * 4), runtime = (t.backend as CudaBackend).runtime;
        runtime.handOff(runtime.stream, runtime.commStream);
        this.s.nccl.allReduceSum(at, at, t.size, runtime.commStream);
        this.gpu = runtime;
        this.parts.push({ address: 0, own: t });
        this.calls.push(FINISHED);
        continue;
      }
      // a world of one: finish copies the rest
      if (!this.s.mpi) break;
      const own = lone && t.dtype === 'float32' ? staging.addressOf(t) : null;
      if (own !== null) {
        this.start(j, own, this.consumed.has(j) ? { address: own, own: t } : { address: own, output: staging.output(t, t.shape) });
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
    const previous = this.calls[k - 1] ?? FINISHED;
    const reduce = () => this.s.mpi!.allreduce(send, recv, this.sizes[k]!, 'float', 'sum', this.background);
    // at once when the bucket before is over; else after it: a failed bucket fails finish(),
    // and the next ones do not start
    let call: Promise<void>;
    if (previous !== FINISHED) call = previous.then(reduce);
    else {
      try {
        call = reduce();
      } catch (e) {
        call = Promise.reject(e);
      }
    }
    // finish() waits for each in turn and may stop at a failed one: the rest are handled here
    call.catch(() => {});
    this.calls.push(call);
  }

  /** Every bucket reduced: new tensors in the buckets' nesting (on each tensor's device). */
  async finish(): Promise<Tensor[][]> {
    const { s, sizes } = this;
    try {
      const missing = this.given.findIndex((g) => !g);
      if (missing >= 0) fail('allReduce (buckets)', `bucket ${missing + 1} of ${sizes.length} was never given its tensors`);
      // a world of one: a consumed bucket is its own sum (NCCL's too), the rest are copied
      if (!s.mpi) return await Promise.all(this.given.map((b, k) => (this.consumed.has(k) ? [b![0]!] : Promise.all(b!.map((t) => copyOf(t))))));
      const staging = s.staging!;
      this.startGiven();
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
    // what the compute stream runs next (the update, the next step's backward) sees the sums
    if (this.gpu) this.gpu.handOff(this.gpu.commStream, this.gpu.stream);
    this.gpu = null;
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

/**
 * Whether a reduction on a worker thread would find a core of its own: one this process may use
 * beyond its compute's (the BLAS threads of a CPU step; one thread driving any other device).
 * On a core its compute fills, MPI's polling takes turns with the compute and the step slows
 * (2 ranks x 1 core, the CNN: 10-19% slower than reducing on the calling thread).
 */
export function coreToSpare(device: string): boolean {
  const compute = device === 'cpu' ? Math.max(1, probeBlas().library?.maxThreads ?? 1) : 1;
  return coresOfThisProcess() > compute;
}

/** Whether the job sums CUDA gradients through NCCL (known once a reduction has begun; until then, whether NCCL loads). */
function ncclThere(): boolean {
  const s = ready();
  return s.nccl === undefined ? !('reason' in probeNccl()) : !!s.nccl;
}

/** Whether an overlapping reduction's large buckets go to MPI's worker thread: where a core is free, or as TESSERA_DIST_OVERLAP says. */
function onWorker(device: string): boolean {
  const forced = env('TESSERA_DIST_OVERLAP');
  return forced === undefined ? coreToSpare(device) : forced === '1';
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

