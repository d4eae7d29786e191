// Moving tensors between devices.
import { fail } from '../core/errors.js';
import { getBackend } from '../backends/registry.js';
import { attachGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { created } from './util.js';

/** A copy of t on `device` (t itself if already there); gradients flow back across. */
export function toDevice(t: Tensor, device: string): Tensor {
  if (t.device === device) return t;
  const target = getBackend(device);
  if (!t.backend.readSync) fail('to', `device '${t.device}' is read asynchronously; copy through the host with tsr.tensor(await t.data(), { shape: t.shape, device: '${device}' })`);
  const src = t.dataSync();
  const out = created('to', target, t.shape, t.dtype);
  target.write(out.storageView.storage, src);
  return attachGrad(out, 'to', [t], (g) => [toDevice(g, t.device)]);
}
