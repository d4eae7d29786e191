// Moving tensors between devices.
import type { TypedArray } from '../core/dtype.js';
import { fail, shapeStr } from '../core/errors.js';
import type { Backend } from '../backends/backend.js';
import { getBackend } from '../backends/registry.js';
import { attachGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { created } from './util.js';

/**
 * A copy of t on `device` (t itself if already there); gradients flow back across. Synchronous
 * where the host reads t's memory synchronously (cpu, cuda); from webgpu use toDeviceAsync.
 */
export function toDevice(t: Tensor, device: string): Tensor {
  if (t.device === device) return t;
  const target = getBackend(device);
  if (!t.backend.readSync) fail('to', `tensor ${shapeStr(t.shape)} on '${t.device}' can only be read asynchronously there; use await t.toAsync('${device}')`);
  return landed(t, target, t.dataSync());
}

/** The copy of t on `device` from any device (an awaited read where the source needs one). */
export async function toDeviceAsync(t: Tensor, device: string): Promise<Tensor> {
  if (t.device === device || t.backend.readSync) return toDevice(t, device);
  const target = getBackend(device);
  return landed(t, target, await t.data());
}

function landed(t: Tensor, target: Backend, values: TypedArray): Tensor {
  const out = created('to', target, t.shape, t.dtype);
  target.write(out.storageView.storage, values);
  // the gradient lives where the output did: the host can read it synchronously, or it is awaited in a later step
  return attachGrad(out, 'to', [t], (g) => [toDevice(g, t.device)]);
}
