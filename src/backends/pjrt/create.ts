// Opens the PJRT device: finds a plugin, creates a client, and names the device by platform.
import { env } from '../../core/platform.js';
import { PjrtClient } from './client.js';
import { findPjrtPlugin } from './discover.js';
import { PjrtBackend } from './pjrt-backend.js';

/**
 * Device names: 'tpu' for TPU plugins ('tpu:K' with TESSERA_PJRT_DEVICE=K, the K-th chip),
 * 'xla-cuda' for JAX's CUDA plugin, 'xla-<platform>' for any other.
 */
export function pjrtDeviceName(platform: string, index: number): string {
  const base = platform === 'tpu' ? 'tpu' : platform === 'cuda' || platform === 'gpu' ? 'xla-cuda' : `xla-${platform}`;
  return index === 0 ? base : `${base}:${index}`;
}

export function createPjrtBackend(): PjrtBackend | { reason: string } {
  const found = findPjrtPlugin();
  if (!found.path) return { reason: `no PJRT plugin found (looked at ${found.looked.join('; ')}); on a Cloud TPU VM: pip install libtpu` };
  const index = Number(env('TESSERA_PJRT_DEVICE') ?? 0);
  let client: PjrtClient;
  try {
    client = new PjrtClient(found.path, index);
  } catch (e) {
    return { reason: (e as Error).message };
  }
  return new PjrtBackend(pjrtDeviceName(client.info.platform, index), client);
}
