// Sums over the ranks made inside a compiled CPU step. Its host steps cannot wait for a promise,
// so a sum there runs at once on this thread: one agreement check polled here to the job's
// timeout, then MPI's blocking allreduce on the tensors where they lie. One plan then runs the
// gradients, their sums and the update, and no gradient is copied out of one plan and into another.
import { fail, shapeStr } from '../core/errors.js';
import { isContiguous } from '../core/shape.js';
import { dataOf } from '../backends/cpu/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import { type State, agreeNow, bucketsStated, inTurn, opCode, ready } from './job.js';

/** Sums float32 CPU tensors over the ranks in place, now; every rank passes tensors of the same sizes, in the same order. */
export type SumNow = (tensors: readonly Tensor[]) => void;

/**
 * `step(sum)` in the job's turn (at once, unless another collective is in progress): `sum` may
 * be called inside it, from a compiled step's host step too. In a world of one it sums nothing.
 */
export function withSumsNow<T>(step: (sum: SumNow) => T): Promise<T> {
  const s = ready();
  return inTurn(s, () => step(s.mpi ? (tensors) => sumNow(s, tensors) : () => {}));
}

function sumNow(s: State, tensors: readonly Tensor[]): void {
  agreeNow(s, 'allReduce', bucketsStated(tensors.map((t) => t.size)), opCode('sum'));
  const mpi = s.mpi!, staging = s.staging!;
  for (const t of tensors) {
    if (t.size === 0) continue;
    const v = t.storageView;
    if (t.device !== 'cpu' || t.dtype !== 'float32' || !isContiguous(v.shape, v.strides)) fail('allReduce (in a step)', `sums contiguous float32 CPU tensors, got ${t.dtype} ${shapeStr(t.shape)} on ${t.device}`);
    const own = staging.addressOf(t);
    if (own !== null) {
      mpi.allreduce(own, own, t.size, 'float', 'sum');
      continue;
    }
    // where the heap's address cannot be told: through a native buffer and back
    const buffer = staging.take(t.size * 4);
    try {
      staging.loadAtSync(buffer, t, 0);
      mpi.allreduce(buffer.address, buffer.address, t.size, 'float', 'sum');
      dataOf(v).set(new Float32Array(buffer.bytes, 0, t.size), v.offset);
    } finally {
      staging.give(buffer);
    }
  }
}
