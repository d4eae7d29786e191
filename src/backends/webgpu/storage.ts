// WebGPU storage: a pooled GPUBuffer behind the opaque Storage handle (4 bytes per element;
// booleans are widened to u32 on the device).
import type { DType } from '../../core/dtype.js';
import type { Storage, View } from '../backend.js';

export class GpuStorage implements Storage {
  constructor(readonly dtype: DType, readonly size: number, readonly buffer: GPUBuffer) {}
}

export const bufferOf = (v: View | Storage): GPUBuffer => ('storage' in v ? (v.storage as GpuStorage) : (v as GpuStorage)).buffer;
export const dtypeOf = (v: View): DType => (v.storage as GpuStorage).dtype;

/** Binding slots for a dispatch: one per distinct buffer, so aliased views share a binding. */
export class Slots {
  readonly buffers: GPUBuffer[] = [];
  readonly dtypes: DType[] = [];
  slot(v: View): number {
    const b = bufferOf(v);
    let i = this.buffers.indexOf(b);
    if (i < 0) {
      i = this.buffers.push(b) - 1;
      this.dtypes.push(dtypeOf(v));
    }
    return i;
  }
  /** WGSL declarations (binding 0 is the metadata). */
  declarations(storageType: (d: DType) => string): string {
    return [
      '@group(0) @binding(0) var<storage, read> md: array<i32>;',
      ...this.dtypes.map((d, i) => `@group(0) @binding(${i + 1}) var<storage, read_write> b${i}: array<${storageType(d)}>;`),
    ].join('\n');
  }
  key(): string {
    return this.dtypes.join(',');
  }
}
