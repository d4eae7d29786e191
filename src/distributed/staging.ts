// Memory the collectives work in. A contiguous CPU tensor is used where it lies (the heap's
// address goes to MPI: no copy), and a CPU result is written straight into a new tensor;
// anything else travels through native buffers (a GPU tensor is read and uploaded), pooled by
// size, so a training loop's same-sized reductions allocate nothing.
import type { DType } from '../core/dtype.js';
import { isContiguous } from '../core/shape.js';
import { heap } from '../backends/cpu/heap.js';
import { byteAddress, dataOf } from '../backends/cpu/storage.js';
import { tensor } from '../ops/creation.js';
import { empty } from '../ops/util.js';
import { keep } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Address, Mpi, NativeBuffer } from './mpi.js';

export const wireBytes = (dtype: DType) => (dtype === 'bool' ? 1 : 4);

function typedView(buffer: NativeBuffer, dtype: DType, n: number): Float32Array | Int32Array | Uint8Array {
  return dtype === 'bool' ? new Uint8Array(buffer.bytes, 0, n) : dtype === 'int32' ? new Int32Array(buffer.bytes, 0, n) : new Float32Array(buffer.bytes, 0, n);
}

export class Staging {
  private readonly pool = new Map<number, NativeBuffer[]>();
  /** where the CPU heap starts, asked once per heap generation (growing may move it) */
  private heapStart: { generation: number; address: Address | null } | null = null;
  constructor(private readonly mpi: Mpi) {}

  /** The heap address of a contiguous CPU tensor's values (MPI then reads or writes them in place), else null. */
  addressOf(t: Tensor): Address | null {
    const v = t.storageView;
    if (t.device !== 'cpu' || t.size === 0 || !isContiguous(v.shape, v.strides)) return null;
    if (this.heapStart?.generation !== heap.generation) {
      this.heapStart = { generation: heap.generation, address: this.mpi.addressOf(new Uint8Array(heap.memory.buffer, 0, 1)) };
    }
    const start = this.heapStart.address;
    return start === null ? null : Number(start) + byteAddress(v);
  }

  /** Where MPI reads `t`: its own bytes, or a pooled copy that `done` gives back. */
  async input(t: Tensor): Promise<{ address: Address; done(): void }> {
    const own = this.addressOf(t);
    if (own !== null) return { address: own, done() {} };
    const buffer = await this.load(t);
    return { address: buffer.address, done: () => this.give(buffer) };
  }

  /**
   * Where MPI writes a result like `like` (dtype, device) of `shape`: a new CPU tensor's own
   * bytes, or a pooled buffer; `values` views them, `take` gives the tensor, `discard` drops it.
   */
  output(like: Tensor, shape: readonly number[]): Output {
    const n = shape.reduce((a, b) => a * b, 1);
    if (like.device === 'cpu' && like.dtype !== 'float16' && like.dtype !== 'bfloat16') {
      // kept: a bucket's output may be made inside backward's tidy()
      const out = keep(empty('cpu', [...shape], like.dtype)), address = this.addressOf(out);
      if (address !== null || n === 0) return { address: address ?? 0, values: () => dataOf(out.storageView).subarray(0, n), take: () => out, discard: () => out.dispose() };
      out.dispose();
    }
    const buffer = this.take(n * wireBytes(like.dtype));
    return {
      address: buffer.address,
      values: () => typedView(buffer, like.dtype, n),
      take: () => { const t = this.store(buffer, like, shape); this.give(buffer); return t; },
      discard: () => this.give(buffer),
    };
  }

  /** A native buffer of at least `bytes`, from the pool when one is free. */
  take(bytes: number): NativeBuffer {
    const size = Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));
    return this.pool.get(size)?.pop() ?? this.mpi.allocate(size);
  }

  give(buffer: NativeBuffer): void {
    const size = buffer.bytes.byteLength;
    let list = this.pool.get(size);
    if (!list) this.pool.set(size, (list = []));
    list.push(buffer);
  }

  /** `t`'s values in a native buffer with room for `count` of them. */
  async load(t: Tensor, count = t.size): Promise<NativeBuffer> {
    const buffer = this.take(count * wireBytes(t.dtype));
    await this.loadAt(buffer, t, 0);
    return buffer;
  }

  /** Copies `t`'s values into `buffer` from element `at` on. */
  async loadAt(buffer: NativeBuffer, t: Tensor, at: number): Promise<void> {
    if (t.device === 'cpu' || t.backend.readSync) this.loadAtSync(buffer, t, at);
    else typedView(buffer, t.dtype, at + t.size).subarray(at).set(await t.data() as ArrayLike<number>);
  }

  /** loadAt for a device read synchronously (CPU: straight from the heap). */
  loadAtSync(buffer: NativeBuffer, t: Tensor, at: number): void {
    const view = typedView(buffer, t.dtype, at + t.size).subarray(at);
    const v = t.storageView;
    if (t.device === 'cpu' && isContiguous(v.shape, v.strides)) view.set(dataOf(v).subarray(v.offset, v.offset + t.size));
    else view.set(t.dataSync() as ArrayLike<number>);
  }

  /** A new tensor like `like` (dtype, device) of `shape`, holding the buffer's values from element `at` on. */
  store(buffer: NativeBuffer, like: Tensor, shape: readonly number[], at = 0): Tensor {
    const n = shape.reduce((a, b) => a * b, 1), view = typedView(buffer, like.dtype, at + n).subarray(at);
    // GPU tensors upload from a copy (the pooled buffer is reused at once); half formats round on the way in
    if (like.device !== 'cpu') return tensor(view.slice(), { shape: [...shape], dtype: like.dtype, device: like.device });
    if (like.dtype === 'float16' || like.dtype === 'bfloat16') return tensor(view, { shape: [...shape], dtype: like.dtype });
    const out = empty('cpu', [...shape], like.dtype);
    dataOf(out.storageView).set(view);
    return out;
  }
}

export interface Output {
  readonly address: Address;
  values(): ArrayLike<number> & { [i: number]: number };
  take(): Tensor;
  discard(): void;
}
