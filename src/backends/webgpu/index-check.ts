// Index range checks on the GPU without a sync: one small kernel writes the first bad index
// (position, value, which check) into a flag buffer, and the next read raises the op's error.
import type { IndexError, View } from '../backend.js';
import { CLEAR_FLAGS, NO_FAILURE as NONE, PendingIndexChecks } from '../index-flags.js';
import { GpuRuntime } from './runtime.js';
import { bufferOf } from './storage.js';
const STORAGE_COPY = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST

const SOURCE = `
@group(0) @binding(0) var<storage, read> md: array<i32>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> flags: array<u32>;
var<workgroup> first: atomic<u32>;
@compute @workgroup_size(256) fn main(@builtin(local_invocation_index) t: u32) {
  if (t == 0u) { atomicStore(&first, ${NONE}u); }
  workgroupBarrier();
  let n = u32(md[0]);
  for (var j = t; j < n; j += 256u) {
    let v = idx[md[2] + i32(j) * md[3]];
    if (v < 0 || v >= md[1]) { atomicMin(&first, j); }
  }
  workgroupBarrier();
  let p = atomicLoad(&first);
  // the earliest failing check since the last read is the one reported
  if (t == 0u && p != ${NONE}u && flags[0] == ${NONE}u) {
    flags[0] = p;
    flags[1] = bitcast<u32>(idx[md[2] + i32(p) * md[3]]);
    flags[2] = u32(md[4]);
  }
}`;

export class GpuIndexChecks {
  private readonly flags: GPUBuffer;
  private readonly pending = new PendingIndexChecks(() => this.rt.write(this.flags, CLEAR_FLAGS));

  constructor(private readonly rt: GpuRuntime) {
    this.flags = rt.device.createBuffer({ size: 16, usage: STORAGE_COPY });
    rt.write(this.flags, CLEAR_FLAGS);
  }

  check(indices: View, limit: number, error: IndexError): void {
    const n = indices.shape[0]!;
    if (n === 0) return;
    const kernel = this.rt.kernel('checkIndices', () => SOURCE, 'checkIndices');
    const meta = Int32Array.from([n, limit, indices.offset, indices.strides[0] ?? 1, this.pending.add(error)]);
    this.rt.dispatch(kernel, meta, [bufferOf(indices), this.flags], [1, 1, 1]);
  }

  /** The flag buffer to read beside the next read, or null when no check is outstanding. */
  get outstanding(): GPUBuffer | null {
    return this.pending.outstanding ? this.flags : null;
  }

  /** Raises the recorded failure, if any, from the flag words read back; clears the checks. */
  settle(words: Uint32Array): void {
    this.pending.settle(words);
  }
}
