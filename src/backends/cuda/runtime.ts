// Under the CUDA backend: one context and stream, a caching allocator, compiled kernels cached
// in memory and on disk, and launches that take their integers in one by-value struct.
import { TesseraError } from '../../core/errors.js';
import { env, nodeBuiltin } from '../../core/platform.js';
import type { KernelTimer } from '../backend.js';
import { currentOpLabel } from '../trace.js';
import { CU_EVENT_DISABLE_TIMING, CudaDriver } from './driver.js';
import type { KernelSource } from './kernels.js';
import { PINNED_MIN_BYTES, PinnedUploads } from './pinned.js';
import { sizeClass } from './size-class.js';

export interface CudaFunction { fn: unknown; name: string }
/** A recorded CUDA graph and its executable form. */
export interface CudaGraph { readonly graph: unknown; readonly exec: unknown; readonly blocks: readonly [bigint, number][] }

/** Bytes of kernel arguments one launch may use: the integer struct, then pointers. */
const ARG_BYTES = 16384;

export class CudaRuntime {
  readonly stream: unknown;
  private readonly ctx: unknown;
  private readonly pool = new Map<number, bigint[]>();
  private readonly kernels = new Map<string, CudaFunction>();
  private readonly args: unknown;
  private readonly argInts: Int32Array;
  private readonly argPtrs: BigUint64Array;
  private readonly argBase: bigint;
  private readonly params = new BigUint64Array(64);
  bytesReserved = 0;
  bytesInUse = 0;
  readonly arch: string;
  readonly timer: KernelTimer;
  private readonly pinned: PinnedUploads;
  private timing: { record: (label: string, ms: number) => void; pending: [string, unknown, unknown][] } | null = null;

  constructor(readonly driver: CudaDriver, readonly device: number) {
    const d = driver;
    const ctx: unknown[] = [null];
    d.check('cuDevicePrimaryCtxRetain', ctx, device);
    this.ctx = ctx[0];
    d.check('cuCtxSetCurrent', this.ctx);
    const stream: unknown[] = [null];
    d.check('cuStreamCreate', stream, 0);
    this.stream = stream[0];
    this.arch = `sm_${this.attribute(75)}${this.attribute(76)}`;
    // native memory for kernel arguments (copied by the driver at launch, so reused)
    this.args = d.koffi.alloc('uint8_t', ARG_BYTES);
    const view = d.koffi.view(this.args, ARG_BYTES);
    this.argInts = new Int32Array(view);
    this.argPtrs = new BigUint64Array(view);
    this.argBase = d.koffi.address(this.args);
    this.timer = this.eventTimer();
    this.pinned = new PinnedUploads(d, this.stream);
  }

  private comm: unknown = null;
  private handOffEvent: unknown = null;

  /** A second stream, for collectives (NCCL) that run beside the compute stream's work; made when first asked for. */
  get commStream(): unknown {
    if (this.comm === null) {
      const stream: unknown[] = [null];
      this.driver.check('cuStreamCreate', stream, 0);
      this.comm = stream[0];
    }
    return this.comm;
  }

  /** Makes stream `to` wait, on the device, for what is queued on stream `from` so far; the host goes on at once. */
  handOff(from: unknown, to: unknown): void {
    if (this.handOffEvent === null) {
      const event: unknown[] = [null];
      this.driver.check('cuEventCreate', event, CU_EVENT_DISABLE_TIMING);
      this.handOffEvent = event[0];
    }
    // a wait takes the event as last recorded when the wait is queued: one event serves every hand-off
    this.driver.check('cuEventRecord', this.handOffEvent, from);
    this.driver.check('cuStreamWaitEvent', to, this.handOffEvent, 0);
  }

  /** Host bytes held page-locked for uploads. */
  get bytesPinned(): number { return this.pinned.bytesPinned; }

  /** Queues a host-to-device copy; the host data may change as soon as this returns. */
  upload(dst: bigint, data: ArrayBufferView, bytes: number): void {
    if (bytes >= PINNED_MIN_BYTES) return this.pinned.upload(dst, data, bytes);
    // from pageable memory the driver stages small copies before the call returns
    this.driver.check('cuMemcpyHtoDAsync_v2', dst, data, bytes, this.stream);
  }

  attribute(attr: number): number {
    const v = [0];
    this.driver.check('cuDeviceGetAttribute', v, attr, this.device);
    return v[0]!;
  }

  alloc(bytes: number): bigint {
    const size = sizeClass(bytes);
    const reuse = this.pool.get(size)?.pop();
    this.bytesInUse += size;
    if (reuse !== undefined) return reuse;
    const ptr = [0n];
    let status = this.driver.status('cuMemAlloc_v2', ptr, size);
    if (status === CudaDriver.OUT_OF_MEMORY) {
      // give the cached blocks back and try once more
      this.trim();
      status = this.driver.status('cuMemAlloc_v2', ptr, size);
    }
    if (status !== 0) {
      this.bytesInUse -= size;
      const free = [0], total = [0];
      this.driver.status('cuMemGetInfo_v2', free, total);
      throw new TesseraError('cuda', status === CudaDriver.OUT_OF_MEMORY
        ? `out of memory: requested ${bytes} bytes, ${free[0]} of ${total[0]} bytes free on the device (${this.bytesReserved} reserved by tessera)`
        : `cuMemAlloc of ${bytes} bytes failed with status ${status}`);
    }
    this.bytesReserved += size;
    return BigInt(ptr[0]!);
  }

  release(ptr: bigint, bytes: number): void {
    // a block freed while a graph is recorded (a reduction's partial sums) belongs to the graph
    if (this.graphBlocks) return void this.graphBlocks.push([ptr, bytes]);
    const size = sizeClass(bytes);
    this.bytesInUse -= size;
    let list = this.pool.get(size);
    if (!list) this.pool.set(size, (list = []));
    list.push(ptr);
  }

  /** Frees every cached block (after the stream is done with them). */
  trim(): void {
    this.driver.check('cuStreamSynchronize', this.stream);
    for (const [size, list] of this.pool) {
      for (const p of list) { this.driver.check('cuMemFree_v2', p); this.bytesReserved -= size; }
    }
    this.pool.clear();
  }

  kernel(key: string, make: () => KernelSource): CudaFunction {
    let k = this.kernels.get(key);
    if (k) return k;
    const src = make();
    const cubin = this.cubin(src);
    const mod: unknown[] = [null], fn: unknown[] = [null];
    this.driver.check('cuModuleLoadData', mod, cubin);
    this.driver.check('cuModuleGetFunction', fn, mod[0], src.name);
    this.kernels.set(key, (k = { fn: fn[0], name: src.name }));
    return k;
  }

  /** NVRTC output, cached on disk by source, architecture and NVRTC version. */
  private cubin(src: KernelSource): Uint8Array {
    const fs = nodeBuiltin('fs'), path = nodeBuiltin('path'), crypto = nodeBuiltin('crypto');
    const dir = env('TESSERA_CUDA_CACHE') ?? (env('HOME') ? `${env('HOME')}/.cache/tessera/cuda` : null);
    const file = dir && fs && path && crypto ? path.join(dir, `${crypto.createHash('sha256').update(`${this.arch}\n${this.driver.libraries.nvrtc.path}\n${src.source}`).digest('hex').slice(0, 32)}.cubin`) : null;
    if (file) {
      try { return new Uint8Array(fs!.readFileSync(file)); } catch { /* not cached yet */ }
    }
    const cubin = this.driver.compile(src.source, src.name, this.arch);
    if (file) {
      try {
        fs!.mkdirSync(dir!, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs!.writeFileSync(tmp, cubin);
        fs!.renameSync(tmp, file);
      } catch { /* a cache that cannot be written only costs recompiles */ }
    }
    return cubin;
  }

  /** Launches `k` over `threads` (1-D, 256 per block) or an explicit grid. */
  launch(k: CudaFunction, meta: ArrayLike<number>, pointers: readonly bigint[], grid: [number, number, number], block: [number, number, number] = [256, 1, 1]): void {
    const metaBytes = Math.ceil((meta.length * 4) / 8) * 8;
    if (metaBytes + pointers.length * 8 > ARG_BYTES || pointers.length >= this.params.length) {
      throw new TesseraError('cuda', `kernel ${k.name}: ${meta.length} integers and ${pointers.length} pointers exceed the argument buffers`);
    }
    this.argInts.set(meta as ArrayLike<number>, 0);
    this.params[0] = this.argBase;
    pointers.forEach((p, j) => {
      this.argPtrs[metaBytes / 8 + j] = p;
      this.params[1 + j] = this.argBase + BigInt(metaBytes + 8 * j);
    });
    this.timed(() => this.driver.check('cuLaunchKernel', k.fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, this.stream, this.params.subarray(0, 1 + pointers.length), null));
  }

  /** Runs `enqueue` (work on the stream: a launch, a cuBLAS call); while profiling, brackets it with events. */
  timed(enqueue: () => void): void {
    if (!this.timing) return enqueue();
    const start = this.event(), end = this.event();
    this.driver.check('cuEventRecord', start, this.stream);
    enqueue();
    this.driver.check('cuEventRecord', end, this.stream);
    this.timing.pending.push([currentOpLabel(), start, end]);
  }

  static grid(threads: number, perBlock = 256): [number, number, number] {
    return [Math.max(1, Math.ceil(threads / perBlock)), 1, 1];
  }

  private event(): unknown {
    const e: unknown[] = [null];
    this.driver.check('cuEventCreate', e, 0);
    return e[0];
  }

  /** Kernel times from CUDA events recorded around each launch while profiling. */
  private eventTimer(): KernelTimer {
    return {
      clock: 'CUDA events',
      start: (record) => { this.timing = { record, pending: [] }; },
      stop: async () => {
        const t = this.timing;
        this.timing = null;
        if (!t) return;
        this.driver.check('cuStreamSynchronize', this.stream);
        for (const [label, a, b] of t.pending) {
          const ms = [0];
          this.driver.check('cuEventElapsedTime', ms, a, b);
          t.record(label, ms[0]!);
          this.driver.check('cuEventDestroy_v2', a);
          this.driver.check('cuEventDestroy_v2', b);
        }
      },
    };
  }

  private graphBlocks: [bigint, number][] | null = null;

  /**
   * Records what `enqueue` puts on the stream into a CUDA graph instead of running it. Blocks
   * released meanwhile stay reserved for the graph, which reads them at every launch.
   */
  recordGraph(enqueue: () => void): CudaGraph {
    const d = this.driver;
    // relaxed: the allocator may still call cuMemAlloc while the stream captures
    d.check('cuStreamBeginCapture_v2', this.stream, 2);
    this.graphBlocks = [];
    // a running profile's events stay out of the graph: its launch is timed as one
    const timing = this.timing;
    this.timing = null;
    const graph: unknown[] = [null];
    let blocks: [bigint, number][] = [];
    try {
      enqueue();
    } finally {
      blocks = this.graphBlocks;
      this.graphBlocks = null;
      this.timing = timing;
      d.check('cuStreamEndCapture', this.stream, graph);
    }
    const exec: unknown[] = [null];
    d.check('cuGraphInstantiateWithFlags', exec, graph[0], 0);
    return { graph: graph[0], exec: exec[0], blocks };
  }

  launchGraph(g: CudaGraph): void {
    this.timed(() => this.driver.check('cuGraphLaunch', g.exec, this.stream));
  }

  destroyGraph(g: CudaGraph): void {
    this.driver.check('cuGraphExecDestroy', g.exec);
    this.driver.check('cuGraphDestroy', g.graph);
    for (const [ptr, bytes] of g.blocks) this.release(ptr, bytes);
  }

  synchronize(): void {
    this.driver.check('cuStreamSynchronize', this.stream);
  }

  close(): void {
    this.trim();
    this.pinned.close();
    this.driver.check('cuDevicePrimaryCtxRelease_v2', this.device);
  }
}
