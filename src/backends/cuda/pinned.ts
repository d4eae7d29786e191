// Uploads through page-locked (pinned) host memory. From pageable memory a large
// cuMemcpyHtoDAsync holds the host until the stream reaches the copy; from a pinned block the
// call returns at once, so the host prepares the next batch while the GPU still computes.
// The copy is queued on the compute stream (as PyTorch's non_blocking copies are), and each
// block is reused once the event recorded after its copy has completed.
import { sizeClass } from './size-class.js';
import { CU_EVENT_DISABLE_TIMING, type CudaDriver } from './driver.js';

/** Smaller uploads are staged by the driver at once; pinning them gains nothing. */
export const PINNED_MIN_BYTES = 16384;
/** Pinned memory held for uploads before an upload waits for a block instead of pinning more. */
const PINNED_CAP_BYTES = 256 << 20;
const CUDA_ERROR_NOT_READY = 600;

interface PinnedBlock { host: unknown; bytes: Uint8Array; event: unknown }

export class PinnedUploads {
  private readonly free = new Map<number, PinnedBlock[]>();
  private readonly inFlight: { size: number; block: PinnedBlock }[] = [];
  bytesPinned = 0;

  constructor(private readonly driver: CudaDriver, private readonly stream: unknown) {}

  /** Queues a copy of `data` to device address `dst`; `data` may change as soon as this returns. */
  upload(dst: bigint, data: ArrayBufferView, bytes: number): void {
    const size = sizeClass(bytes);
    const block = this.take(size);
    block.bytes.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
    this.driver.check('cuMemcpyHtoDAsync_v2', dst, block.host, bytes, this.stream);
    this.driver.check('cuEventRecord', block.event, this.stream);
    this.inFlight.push({ size, block });
  }

  /** A block whose last copy has run: a finished one, a new one, or (at the cap) the oldest, waited for. */
  private take(size: number): PinnedBlock {
    this.collect();
    const ready = this.free.get(size)?.pop();
    if (ready) return ready;
    const oldest = this.inFlight.findIndex((f) => f.size === size);
    if (this.bytesPinned + size > PINNED_CAP_BYTES && oldest >= 0) {
      const [{ block }] = this.inFlight.splice(oldest, 1) as [{ size: number; block: PinnedBlock }];
      this.driver.check('cuEventSynchronize', block.event);
      return block;
    }
    const host: unknown[] = [null];
    this.driver.check('cuMemHostAlloc', host, size, 0);
    const event: unknown[] = [null];
    // timing off: a cheaper event, used only to know when the copy is done
    this.driver.check('cuEventCreate', event, CU_EVENT_DISABLE_TIMING);
    this.bytesPinned += size;
    return { host: host[0], bytes: new Uint8Array(this.driver.koffi.view(host[0], size)), event: event[0] };
  }

  /** Moves blocks whose copies have completed back to the free lists. */
  private collect(): void {
    for (let i = 0; i < this.inFlight.length;) {
      const { size, block } = this.inFlight[i]!;
      const status = this.driver.status('cuEventQuery', block.event);
      if (status === CUDA_ERROR_NOT_READY) { i++; continue; }
      if (status !== 0) this.driver.check('cuEventQuery', block.event);
      this.inFlight.splice(i, 1);
      let list = this.free.get(size);
      if (!list) this.free.set(size, (list = []));
      list.push(block);
    }
  }

  /** Frees every pinned block (the caller has synchronized the stream). */
  close(): void {
    const all = [...this.inFlight.map((f) => f.block), ...[...this.free.values()].flat()];
    for (const b of all) {
      this.driver.check('cuEventDestroy_v2', b.event);
      this.driver.check('cuMemFreeHost', b.host);
    }
    this.inFlight.length = 0;
    this.free.clear();
    this.bytesPinned = 0;
  }
}
