// The device registry: which backends exist, which is the default, and why others are absent.
import { fail } from '../core/errors.js';
import { env, isNode } from '../core/platform.js';
import type { Backend } from './backend.js';
import type { WebGpuOptions } from './webgpu/discover.js';
import { CpuBackend } from './cpu/cpu-backend.js';

const backends = new Map<string, Backend>();
const unavailable = new Map<string, string>();
let defaultDevice = 'cpu';
let discovery: Promise<void> | undefined;

export interface DeviceOptions {
  /** WebGPU adapter choice: the first whose name contains `adapterName` (also TESSERA_WEBGPU_ADAPTER) */
  webgpu?: WebGpuOptions;
}

/**
 * Looks for accelerators (WebGPU) and registers those that work; safe to call often (options
 * apply when devices are opened: the first call, or the first after releaseDevices).
 * @example await tsr.initDevices(); tsr.setDefaultDevice('auto');
 * @example await tsr.initDevices({ webgpu: { adapterName: 'NVIDIA' } });
 */
export function initDevices(opts: DeviceOptions = {}): Promise<void> {
  discovery ??= (async () => {
    // CUDA first: where both see an NVIDIA GPU, 'auto' prefers the faster path
    if (env('TESSERA_DISABLE_CUDA')) unavailable.set('cuda', 'disabled by TESSERA_DISABLE_CUDA');
    else if (!isNode) unavailable.set('cuda', 'CUDA needs Node.js; in browsers use webgpu');
    else {
      const { createCudaBackend } = await import('./cuda/cuda-backend.js');
      const cuda = createCudaBackend();
      if ('reason' in cuda) unavailable.set('cuda', cuda.reason);
      else backends.set('cuda', cuda);
    }
    if (env('TESSERA_DISABLE_WEBGPU')) {
      unavailable.set('webgpu', 'disabled by TESSERA_DISABLE_WEBGPU');
      return;
    }
    const { createWebGpuBackend } = await import('./webgpu/discover.js');
    const made = await createWebGpuBackend({ adapterName: env('TESSERA_WEBGPU_ADAPTER') || undefined, ...opts.webgpu });
    if ('reason' in made) unavailable.set('webgpu', made.reason);
    else backends.set('webgpu', made);
  })();
  return discovery;
}

/**
 * Closes GPU devices so a Node process can exit (Dawn keeps the event loop busy while a device
 * is open); tensors on them become unusable. initDevices() opens them again.
 */
export async function releaseDevices(): Promise<void> {
  await discovery?.catch(() => undefined);
  for (const [name, b] of backends) {
    if (name === 'cpu') continue;
    (b as { release?: () => void }).release?.();
    backends.delete(name);
  }
  if (defaultDevice !== 'cpu' && !backends.has(defaultDevice)) defaultDevice = 'cpu';
  discovery = undefined;
  unavailable.clear();
}

/** Why each known backend that is not registered is unavailable. */
export function unavailableDevices(): Record<string, string> {
  return Object.fromEntries(unavailable);
}

export function getBackend(name: string): Backend {
  let b = backends.get(name);
  if (!b && name === 'cpu') {
    b = new CpuBackend();
    backends.set(name, b);
  }
  if (!b) {
    const why = unavailable.get(name);
    fail('device', why ? `device '${name}' is unavailable: ${why}` : `unknown or unavailable device '${name}' (available: ${availableDevices().join(', ')}${discovery ? '' : '; call await tsr.initDevices() to look for GPUs'})`);
  }
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

/** A software rasteriser (lavapipe, SwiftShader) is slower than the CPU backend. */
export function isSoftware(b: Backend): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(b.info().description);
}

/** What 'auto' means now: a hardware GPU backend if one is registered (see initDevices), else cpu, and why. */
export function autoDevice(): { device: string; why: string } {
  const gpus = availableDevices().filter((n) => getBackend(n).info().kind === 'gpu');
  const hardware = gpus.find((n) => !isSoftware(getBackend(n)));
  if (hardware) return { device: hardware, why: `GPU found: ${getBackend(hardware).info().description}` };
  if (gpus.length) return { device: 'cpu', why: `the only GPU adapter is a software renderer (${getBackend(gpus[0]!).info().description}), slower than the CPU backend` };
  const reasons = [...unavailable].map(([n, r]) => `${n}: ${r}`);
  return { device: 'cpu', why: discovery ? `no GPU available (${reasons.join('; ')})` : 'GPUs were not looked for (call await tsr.initDevices() first)' };
}

/** Sets the device new tensors go to; 'auto' picks via autoDevice(). Returns the device chosen. */
export function setDefaultDevice(name: string): string {
  const chosen = name === 'auto' ? autoDevice().device : name;
  getBackend(chosen);
  defaultDevice = chosen;
  return chosen;
}

/**
 * Runs fn with `name` as the default device, then restores the previous one (after the promise
 * settles if fn is async).
 * @example const y = tsr.withDevice('webgpu', () => tsr.matmul(tsr.rand([64, 64]), tsr.rand([64, 64])));
 */
export function withDevice<T>(name: string, fn: () => T): T {
  const before = defaultDevice;
  setDefaultDevice(name);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    defaultDevice = before;
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => { defaultDevice = before; }) as T;
  defaultDevice = before;
  return result;
}
