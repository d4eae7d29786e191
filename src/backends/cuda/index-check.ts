// Index range checks on CUDA without a sync, as on WebGPU: one block scans the indices and
// records the first bad one in a flag word triple; the next read copies the flags back too.
import type { IndexError, View } from '../backend.js';
import { CLEAR_FLAGS, PendingIndexChecks } from '../index-flags.js';
import type { KernelSource } from './kernels.js';
import { CudaRuntime } from './runtime.js';
import type { CudaStorage } from './launch.js';

/** meta: [n, limit, idx offset, idx stride, check number]; flags: [position, value, check] */
export const checkIndicesKernel = (): KernelSource => ({
  name: 'check_indices',
  source: `struct Md { int v[5]; };
extern "C" __global__ void check_indices(const Md md, const int* idx, unsigned* flags) {
  __shared__ unsigned first;
  if (threadIdx.x == 0) first = 0xffffffffu;
  __syncthreads();
  const int n = md.v[0], limit = md.v[1];
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const int v = idx[md.v[2] + j * md.v[3]];
    if (v < 0 || v >= limit) atomicMin(&first, (unsigned)j);
  }
  __syncthreads();
  // the earliest failing check since the last read is the one reported
  if (threadIdx.x == 0 && first != 0xffffffffu && flags[0] == 0xffffffffu) {
    flags[0] = first;
    flags[1] = (unsigned)idx[md.v[2] + (int)first * md.v[3]];
    flags[2] = (unsigned)md.v[4];
  }
}`,
});

export class CudaIndexChecks {
  private flags: bigint | null = null;
  private readonly pending = new PendingIndexChecks(() => this.clear());

  constructor(private readonly rt: CudaRuntime) {}

  check(indices: View, limit: number, error: IndexError): void {
    const n = indices.shape[0]!;
    if (n === 0) return;
    if (this.flags === null) {
      this.flags = this.rt.alloc(16);
      this.clear();
    }
    const meta = [n, limit, indices.offset, indices.strides[0] ?? 1, this.pending.add(error)];
    this.rt.launch(this.rt.kernel('checkIndices', checkIndicesKernel), meta, [(indices.storage as CudaStorage).ptr, this.flags], [1, 1, 1]);
  }

  /** Queues the copy of the flags into `into` when a check is outstanding (before the read's sync). */
  queueRead(into: Uint32Array): boolean {
    if (!this.pending.outstanding || this.flags === null) return false;
    this.rt.driver.check('cuMemcpyDtoHAsync_v2', into, this.flags, 16, this.rt.stream);
    return true;
  }

  /** After the sync: raises the recorded failure, if any; clears the checks. */
  settle(words: Uint32Array): void {
    this.pending.settle(words);
  }

  private clear(): void {
    this.rt.upload(this.flags!, CLEAR_FLAGS, 16);
  }
}
