// tsr.listDevices(): every device tessera knows, usable or not, and for the unusable ones why.
import { availableDevices, getBackend, initDevices, unavailableDevices } from '../backends/registry.js';
import type { DeviceInfo } from '../backends/backend.js';

export interface DeviceListing {
  name: string;
  available: boolean;
  kind?: DeviceInfo['kind'];
  description?: string;
  /** cores, instruction sets and BLAS for the CPU; vendor, limits and features for a GPU */
  details?: Record<string, string | number>;
  /** a software renderer (lavapipe, SwiftShader): works, but slower than the CPU backend */
  software?: boolean;
  /** why it is unavailable, and how to fix that */
  reason?: string;
}

/** Looks for GPUs (initDevices) and lists every known backend. @example console.table(await tsr.listDevices()) */
export async function listDevices(): Promise<DeviceListing[]> {
  await initDevices();
  const out: DeviceListing[] = [];
  for (const name of availableDevices()) {
    const b = getBackend(name);
    const info = b.info();
    out.push({ name, available: true, kind: info.kind, description: info.description, details: info.details, software: info.software });
  }
  for (const [name, reason] of Object.entries(unavailableDevices())) out.push({ name, available: false, reason });
  return out;
}
