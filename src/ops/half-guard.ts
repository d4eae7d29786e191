// Half-precision tensors are storage formats: kernels load, store, round and copy them, and
// matmul multiplies them, but every other op needs float32 operands (as on devices without
// 16-bit arithmetic units), so results never silently depend on where rounding happened.
import { type DType, isHalf } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
import type { Tensor } from '../tensor/tensor.js';

/** Fails, naming the op, dtype and shape, when an op other than cast reads or makes a half tensor. */
export function checkHalfUse(op: string, inputs: readonly Tensor[], outDtype: DType): void {
  if (op === 'cast') return;
  let half: Tensor | undefined;
  for (const t of inputs) if (isHalf(t.dtype)) { half = t; break; }
  if (!half && !isHalf(outDtype)) return;
  const what = half ? `${half.dtype} ${shapeStr(half.shape)}` : outDtype;
  fail(op, `got ${what}: float16/bfloat16 tensors support cast, matmul, copies, views and gather only; cast to float32 first with .cast('float32')`);
}
