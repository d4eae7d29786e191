// Devices that keep half-precision tensors widened to float32 (CPU, WebGPU) run matrix products
// in float32 on the stored (already rounded) values, then round the result to the half format,
// which is what a half GEMM with float32 accumulation returns.
import { isHalf } from '../core/dtype.js';
import { cast, input } from '../core/expr.js';
import type { Backend, View } from './backend.js';

export function roundWidenedProduct(backend: Backend, out: View): void {
  const dtype = out.storage.dtype;
  if (isHalf(dtype)) backend.elementwise([cast(input(0, 'float32'), dtype)], [out], [out]);
}
