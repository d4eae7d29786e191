// Helpers every op uses: device agreement, fresh outputs, and broadcast views.
import type { DType } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
import { type Shape, broadcastStrides, sizeOf } from '../core/shape.js';
import type { Backend, View } from '../backends/backend.js';
import { getBackend } from '../backends/registry.js';
import { noteOp } from '../backends/trace.js';
import { StorageRef } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { contiguousStrides } from '../core/shape.js';

export type TensorLike = Tensor | number;

/**
 * The one backend all tensors live on; mixing devices is an error naming both. The op is noted
 * for the placement log and the profiler unless `note` is false (views, which run no kernel).
 */
export function backendOf(op: string, tensors: readonly Tensor[], note = true): Backend {
  let backend: Backend | undefined;
  for (const t of tensors) {
    if (!(t instanceof Tensor)) fail(op, `expected a Tensor, got ${typeof t}`);
    if (t.isDisposed) t.useAfterDispose(op);
    if (!backend) backend = t.backend;
    else if (backend !== t.backend) {
      fail(op, `inputs are on different devices ('${backend.name}' and '${t.backend.name}'); move one with .to('${backend.name}')`);
    }
  }
  if (!backend) fail(op, 'needs at least one tensor input');
  if (note) noteOp(op, backend.name);
  return backend;
}

/** A new, uninitialised contiguous tensor. */
export function empty(backend: Backend | string, shape: Shape, dtype: DType): Tensor {
  const b = typeof backend === 'string' ? getBackend(backend) : backend;
  const ref = new StorageRef(b, b.alloc(dtype, sizeOf(shape)));
  return new Tensor(ref, [...shape], contiguousStrides(shape), 0, dtype);
}

/** A new tensor made by the op `op` from host data or constants (noted for placement and profiling). */
export function created(op: string, device: Backend | string, shape: Shape, dtype: DType): Tensor {
  const out = empty(device, shape, dtype);
  noteOp(op, out.device);
  return out;
}

/** The tensor read as if it had the (broadcast) shape `shape`. */
export function viewAs(t: Tensor, shape: Shape): View {
  const v = t.storageView;
  return { storage: v.storage, shape, strides: broadcastStrides(t.shape, t.strides, shape), offset: v.offset };
}

export function requireFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32') fail(op, `expected float32 input, got ${t.dtype} (shape ${shapeStr(t.shape)}); cast it first with .cast('float32')`);
  }
}
