// Host memory for CPU tensors inside one WebAssembly memory, so SIMD kernels and BLAS (through
// koffi) work on the same bytes without copies. Blocks are 16-byte aligned. Freed blocks merge
// with free neighbours and a free block at the top of the heap gives its bytes back to the top,
// so varying sizes (predict with batch sizes 1..1000, say) reuse memory instead of fragmenting it.
import { fail } from '../../core/errors.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const ALIGN = 16;
/** size classes: four per power of two of the size in 16-byte units */
const CLASSES = 4 * 30;

function classOf(size: number): number {
  const units = size / ALIGN;
  const e = 31 - Math.clz32(units);
  return e * 4 + (e >= 2 ? (units >>> (e - 2)) & 3 : 0);
}

export const blockSize = (bytes: number) => Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);

export class WasmHeap {
  readonly memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES });
  /** bumped on every grow: typed-array views made before a grow are detached */
  generation = 0;
  // offset 0 stays unused so no block starts at the null pointer
  private top = ALIGN;
  /** free blocks: start -> size, end -> start (to merge with a left neighbour), and by size class */
  private readonly freeSize = new Map<number, number>();
  private readonly freeEnd = new Map<number, number>();
  private readonly bins: Set<number>[] = Array.from({ length: CLASSES }, () => new Set());
  private usedBytes = 0;
  private peakBytes = 0;

  /** Byte offset of a new block of at least `bytes`: a free block that fits (the best of its class), or the top. */
  alloc(bytes: number): number {
    const size = blockSize(bytes);
    let at = this.takeFree(size);
    if (at === undefined) {
      at = this.top;
      // keep one vector of slack past the last block for tail reads
      const need = at + size + ALIGN;
      if (need > this.memory.buffer.byteLength) this.grow(need, size);
      this.top += size;
    }
    this.usedBytes += size;
    if (this.usedBytes > this.peakBytes) this.peakBytes = this.usedBytes;
    return at;
  }

  free(offset: number, bytes: number): void {
    let at = offset, size = blockSize(bytes);
    this.usedBytes -= size;
    const right = this.freeSize.get(at + size);
    if (right !== undefined) { this.unlink(at + size, right); size += right; }
    const left = this.freeEnd.get(at);
    if (left !== undefined) { const leftSize = this.freeSize.get(left)!; this.unlink(left, leftSize); at = left; size += leftSize; }
    if (at + size === this.top) this.top = at;
    else this.link(at, size);
  }

  private takeFree(size: number): number | undefined {
    const c = classOf(size);
    let best: number | undefined, bestSize = Infinity;
    for (const at of this.bins[c]!) {
      const s = this.freeSize.get(at)!;
      if (s >= size && s < bestSize) { best = at; bestSize = s; if (s === size) break; }
    }
    // every block of a higher class is large enough
    for (let k = c + 1; best === undefined && k < CLASSES; k++) {
      const bin = this.bins[k]!;
      if (bin.size) { best = bin.values().next().value!; bestSize = this.freeSize.get(best)!; }
    }
    if (best === undefined) return undefined;
    this.unlink(best, bestSize);
    // the rest stays free; its right neighbour is in use (free neighbours are always merged)
    if (bestSize > size) this.link(best + size, bestSize - size);
    return best;
  }

  private link(at: number, size: number): void {
    this.freeSize.set(at, size);
    this.freeEnd.set(at + size, at);
    this.bins[classOf(size)]!.add(at);
  }

  private unlink(at: number, size: number): void {
    this.freeSize.delete(at);
    this.freeEnd.delete(at + size);
    this.bins[classOf(size)]!.delete(at);
  }

  private grow(needBytes: number, request: number): void {
    const have = this.memory.buffer.byteLength / PAGE;
    const want = Math.min(MAX_PAGES, Math.max(Math.ceil(needBytes / PAGE), have * 2));
    const state = () => `${request} bytes requested; ${this.usedBytes} bytes in use by live tensors, ${this.top - ALIGN - this.usedBytes} more in freed blocks too small for it`;
    if (needBytes > MAX_PAGES * PAGE) fail('cpu', `out of memory: ${state()}. A CPU heap holds at most 4 GiB (WebAssembly's limit); use smaller batches or free tensors (tsr.tidy, dispose)`);
    try {
      this.memory.grow(want - have);
    } catch {
      fail('cpu', `out of memory: the system refused to grow the CPU heap to ${want * PAGE} bytes (${state()})`);
    }
    this.generation++;
  }

  /** Views of the whole heap, for copies between blocks without allocating (copyWithin). */
  words(): Int32Array {
    if (this.wordsGeneration !== this.generation || !this.wordView) {
      this.wordView = new Int32Array(this.memory.buffer);
      this.wordsGeneration = this.generation;
    }
    return this.wordView;
  }
  private wordView: Int32Array | null = null;
  private wordsGeneration = -1;

  /** reserved: bytes below the top (in use plus freed blocks kept for reuse); peak: most ever in use; committed: the memory's size. */
  stats(): { reserved: number; used: number; peak: number; committed: number } {
    return { reserved: this.top - ALIGN, used: this.usedBytes, peak: this.peakBytes, committed: this.memory.buffer.byteLength };
  }
}

export const heap = new WasmHeap();
