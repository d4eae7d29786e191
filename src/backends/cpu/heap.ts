// Host memory for CPU tensors inside one WebAssembly memory, so SIMD kernels and BLAS (through
// koffi) work on the same bytes without copies. Blocks are 16-byte aligned; freed blocks are
// kept by size and reused.
import { fail } from '../../core/errors.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const ALIGN = 16;

export class WasmHeap {
  readonly memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES });
  /** bumped on every grow: typed-array views made before a grow are detached */
  generation = 0;
  // offset 0 stays unused so no block starts at the null pointer
  private top = ALIGN;
  private readonly freeBySize = new Map<number, number[]>();
  private reservedBytes = 0;
  private usedBytes = 0;

  /** Byte offset of a new block of at least `bytes`; freed blocks of the same size are reused. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const reuse = this.freeBySize.get(size)?.pop();
    this.usedBytes += size;
    if (reuse !== undefined) return reuse;
    const at = this.top;
    // keep one vector of slack past the last block for tail reads
    const need = at + size + ALIGN;
    if (need > this.memory.buffer.byteLength) this.grow(need);
    this.top += size;
    this.reservedBytes += size;
    return at;
  }

  free(offset: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let list = this.freeBySize.get(size);
    if (!list) this.freeBySize.set(size, (list = []));
    list.push(offset);
    this.usedBytes -= size;
  }

  private grow(needBytes: number): void {
    const have = this.memory.buffer.byteLength / PAGE;
    const want = Math.min(MAX_PAGES, Math.max(Math.ceil(needBytes / PAGE), have * 2));
    if (needBytes > MAX_PAGES * PAGE) {
      fail('cpu', `out of memory: ${needBytes} bytes requested in total, beyond the 4 GiB a CPU heap can hold (${this.usedBytes} bytes in use)`);
    }
    try {
      this.memory.grow(want - have);
    } catch {
      fail('cpu', `out of memory: could not grow the CPU heap to ${want * PAGE} bytes (${this.usedBytes} bytes in use)`);
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

  stats(): { reserved: number; used: number } {
    return { reserved: this.reservedBytes, used: this.usedBytes };
  }
}

export const heap = new WasmHeap();
