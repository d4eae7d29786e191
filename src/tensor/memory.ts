// Device memory bookkeeping: reference-counted storages, live counts per device, and a
// safety net that frees the storage of tensors the program can no longer reach.
import { bytesPerElement } from '../core/dtype.js';
import type { Backend, Storage } from '../backends/backend.js';
import { availableDevices, getBackend } from '../backends/registry.js';

export class StorageRef {
  refs = 0;
  readonly bytes: number;
  /** `lent`: a storage someone else owns and counts (a compiled step's plan), never freed here */
  constructor(readonly backend: Backend, readonly storage: Storage, private readonly lent = false) {
    this.bytes = storage.size * bytesPerElement(storage.dtype);
    if (lent) return;
    const u = usageOf(backend.name);
    u.storages++;
    u.bytes += this.bytes;
  }
  retain(): void { this.refs++; }
  release(): void {
    if (--this.refs > 0 || this.lent) return;
    const u = usageOf(this.backend.name);
    u.storages--;
    u.bytes -= this.bytes;
    this.backend.free(this.storage);
  }
}

export interface DeviceUsage {
  tensors: number;
  storages: number;
  /** bytes of the live storages */
  bytes: number;
  /** bytes compiled steps hold for their inputs and temporaries (their plans) */
  planBytes: number;
  /** bytes the device's allocator holds, in use or cached for reuse (absent where not known) */
  reservedBytes?: number;
}

const usage = new Map<string, DeviceUsage>();

export function usageOf(device: string): DeviceUsage {
  let u = usage.get(device);
  if (!u) usage.set(device, (u = { tensors: 0, storages: 0, bytes: 0, planBytes: 0 }));
  return u;
}

export interface MemoryInfo {
  /** live (not disposed) tensors over all devices */
  numTensors: number;
  /** bytes of device storage those tensors hold */
  numBytes: number;
  devices: Record<string, DeviceUsage>;
  /**
   * tensors the garbage collector has freed because they were dropped without dispose(), since
   * the process started: a loop that leaves this unchanged disposes everything it makes
   */
  numCollected: number;
}

let collected = 0;

/** Live tensors and bytes, in total and per device, with what each device's allocator reserves. */
export function memory(): MemoryInfo {
  const devices: Record<string, DeviceUsage> = {};
  let numTensors = 0, numBytes = 0;
  for (const [name, u] of usage) {
    // a released device (its tensors freed) no longer reports an allocator
    const reserved = availableDevices().includes(name) ? getBackend(name).reservedBytes?.() : undefined;
    devices[name] = reserved === undefined ? { ...u } : { ...u, reservedBytes: reserved };
    numTensors += u.tensors;
    numBytes += u.bytes;
  }
  return { numTensors, numBytes, devices, numCollected: collected };
}

/** What the finalizer needs to undo one tensor's hold on memory. */
export interface Hold { ref: StorageRef; device: string }

export const unreachable = new FinalizationRegistry<Hold>((hold) => {
  collected++;
  usageOf(hold.device).tensors--;
  hold.ref.release();
});
