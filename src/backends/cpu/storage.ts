// CPU storage: a block of the WebAssembly heap behind the opaque Storage handle.
import { type DType, type TypedArray, bytesPerElement, widened } from '../../core/dtype.js';
import type { Storage, View } from '../backend.js';
import { heap } from './heap.js';

const ARRAY = { float32: Float32Array, int32: Int32Array, bool: Uint8Array } as const;

/** One spare vector per block: a SIMD row's partial last vector may write past the end. */
function blockBytes(dtype: DType, size: number): number {
  return size * bytesPerElement(widened(dtype)) + 16;
}

export class CpuStorage implements Storage {
  /** byte offset in the heap */
  readonly byteOffset: number;
  private cached: TypedArray | null = null;
  private generation = -1;
  private freed = false;

  constructor(readonly dtype: DType, readonly size: number) {
    this.byteOffset = heap.alloc(blockBytes(dtype, size));
  }

  /** A typed array over the block; re-made after the heap grows (which detaches old views). */
  get data(): TypedArray {
    if (this.generation !== heap.generation || !this.cached) {
      this.cached = new ARRAY[widened(this.dtype)](heap.memory.buffer, this.byteOffset, this.size);
      this.generation = heap.generation;
    }
    return this.cached;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.cached = null;
    heap.free(this.byteOffset, blockBytes(this.dtype, this.size));
  }
}

export function dataOf(v: View | Storage): TypedArray {
  const s = 'storage' in v ? v.storage : v;
  return (s as CpuStorage).data;
}

/** Heap address of the view's first element. */
export function byteAddress(v: View): number {
  const s = v.storage as CpuStorage;
  return s.byteOffset + v.offset * bytesPerElement(widened(s.dtype));
}
