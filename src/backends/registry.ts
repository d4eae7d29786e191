// The device registry: which backends exist, which is the default, and why others are absent.
import { fail } from '../core/errors.js';
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';

const backends = new Map<string, Backend>();
let defaultDevice = 'cpu';

export function getBackend(name: string): Backend {
  let b = backends.get(name);
  if (!b && name === 'cpu') {
    b = new CpuBackend();
    backends.set(name, b);
  }
  if (!b) fail('device', `unknown or unavailable device '${name}' (available: ${availableDevices().join(', ')})`);
  return b;
}

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function availableDevices(): string[] {
  return ['cpu', ...[...backends.keys()].filter((n) => n !== 'cpu')];
}

export function getDefaultDevice(): string {
  return defaultDevice;
}

/** 'auto' picks the fastest registered device: a GPU backend if one registered, else cpu. */
export function setDefaultDevice(name: string): string {
  const chosen = name === 'auto' ? (availableDevices().find((n) => n !== 'cpu') ?? 'cpu') : name;
  getBackend(chosen);
  defaultDevice = chosen;
  return chosen;
}
