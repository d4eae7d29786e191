// Host memory for CPU tensors inside one WebAssembly memory, so SIMD kernels and BLAS (through
// koffi) work on the same bytes without copies. Blocks start on cache lines. Freed blocks are
// reused by exact size first; before the memory would grow they merge with free neighbours and
// a free run at the top gives its bytes back, so varying sizes (predict with batch sizes
// 1..1000, say) reuse memory instead of fragmenting it.
import { fail } from '../../core/errors.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/**
 * Blocks start on 64-byte cache lines. Besides lines, this keeps copies between blocks off a
 * slow path: glibc's memmove (under TypedArray.set and copyWithin too) ran 14x slower on AMD
 * EPYC when the destination lay 1-31 bytes past the source modulo 4 KiB, as it did between
 * neighbouring 16-byte-aligned blocks of 2^k floats (each block has 16 bytes of slack).
 */
const ALIGN = 64;
/** one SIMD vector of slack past the last block, for tail reads */
const SLACK = 16;

export const blockSize = (bytes: number) => Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);

export class WasmHeap {
  readonly memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES });
  /** bumped on every grow: typed-array views made before a grow are detached */
  generation = 0;
  // offset 0 stays unused so no block starts at the null pointer
  private top = ALIGN;
  /**
   * Freed blocks by exact size: a training loop asks for the same sizes every step, so most
   * requests are one lookup. Neighbours are merged lazily, before the memory would grow.
   */
  private readonly cache = new Map<number, number[]>();
  private cachedBytes = 0;
  private usedBytes = 0;
  private peakBytes = 0;

  /** Byte offset of a new block of at least `bytes`. */
  alloc(bytes: number): number {
    const size = blockSize(bytes);
    let at = this.cache.get(size)?.pop();
    if (at !== undefined) this.cachedBytes -= size;
    else at = this.fromTop(size);
    this.usedBytes += size;
    if (this.usedBytes > this.peakBytes) this.peakBytes = this.usedBytes;
    return at;
  }

  free(offset: number, bytes: number): void {
    const size = blockSize(bytes);
    this.cacheBlock(offset, size);
    this.usedBytes -= size;
  }

  private cacheBlock(at: number, size: number): void {
    let list = this.cache.get(size);
    if (!list) this.cache.set(size, (list = []));
    list.push(at);
    this.cachedBytes += size;
  }

  /**
   * A block from the top while the memory has room; when it has not, the cached blocks are
   * merged first (and a free run at the top given back) and the best fit taken, and only then
   * does the memory grow. Merging only then keeps a training loop's exact sizes cached.
   */
  private fromTop(size: number): number {
    if (this.top + size + SLACK > this.memory.buffer.byteLength && this.cachedBytes > 0) {
      const fit = this.takeMerged(size);
      if (fit !== undefined) return fit;
    }
    const at = this.top, need = at + size + SLACK;
    if (need > this.memory.buffer.byteLength) this.grow(need, size);
    this.top += size;
    return at;
  }

  /** Merges the cached blocks and takes the best fit for `size` from them (splitting it), if one fits. */
  private takeMerged(size: number): number | undefined {
    const blocks = this.merge();
    let best = -1;
    for (let i = 0; i < blocks.length; i += 2) {
      if (blocks[i + 1]! >= size && (best < 0 || blocks[i + 1]! < blocks[best + 1]!)) best = i;
    }
    if (best < 0) return undefined;
    const at = blocks[best]!, rest = blocks[best + 1]! - size;
    this.uncache(at, blocks[best + 1]!);
    if (rest > 0) this.cacheBlock(at + size, rest);
    return at;
  }

  /**
   * Coalesces every cached block with its free neighbours, gives a free run at the top back to
   * the top, and re-files the merged blocks. Returns them as flat [offset, size, ...].
   */
  private merge(): number[] {
    const spans: [number, number][] = [];
    for (const [size, offsets] of this.cache) for (const at of offsets) spans.push([at, size]);
    spans.sort((a, b) => a[0] - b[0]);
    const merged: number[] = [];
    for (const [at, size] of spans) {
      const last = merged.length - 2;
      if (last >= 0 && merged[last]! + merged[last + 1]! === at) merged[last + 1]! += size;
      else merged.push(at, size);
    }
    if (merged.length && merged[merged.length - 2]! + merged[merged.length - 1]! === this.top) {
      this.top = merged[merged.length - 2]!;
      merged.length -= 2;
    }
    this.cache.clear();
    this.cachedBytes = 0;
    for (let i = 0; i < merged.length; i += 2) this.cacheBlock(merged[i]!, merged[i + 1]!);
    return merged;
  }

  private uncache(at: number, size: number): void {
    const list = this.cache.get(size)!;
    list.splice(list.lastIndexOf(at), 1);
    this.cachedBytes -= size;
  }

  private grow(needBytes: number, request: number): void {
    const have = this.memory.buffer.byteLength / PAGE;
    const want = Math.min(MAX_PAGES, Math.max(Math.ceil(needBytes / PAGE), have * 2));
    const state = () => `${request} bytes requested; ${this.usedBytes} bytes in use by live tensors, ${this.cachedBytes} more in freed blocks too small for it`;
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
