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
 * The devices opened at run time, in the order 'auto' prefers them (CUDA first: where both see
 * an NVIDIA GPU, it is the faster path). A new device is one entry here: how to load it (or why
 * it cannot be) and how to release it again. The cpu is always there.
 */
interface DeviceEntry {
  readonly name: string;
  load(opts: DeviceOptions): Promise<{ backend: Backend; release(): void } | { reason: string }>;
}

/** A loaded backend with its release, or the reason it could not be loaded. */
const loaded = <B extends Backend & { release(): void }>(made: B | { reason: string }) => ('reason' in made ? made : { backend: made, release: () => made.release() });

const DEVICES: readonly DeviceEntry[] = [
  {
    name: 'cuda',
    async load() {
      if (!isNode) return { reason: 'CUDA needs Node.js; in browsers use webgpu' };
      const { createCudaBackend } = await import('./cuda/cuda-backend.js');
      return loaded(createCudaBackend());
    },
  },
  {
    name: 'webgpu',
    async load(opts) {
      const { createWebGpuBackend } = await import('./webgpu/discover.js');
      return loaded(await createWebGpuBackend({ adapterName: env('TESSERA_WEBGPU_ADAPTER') || undefined, ...opts.webgpu }));
    },
  },
  {
    // registered under its platform's name: 'tpu' for libtpu, 'xla-cuda' for JAX's CUDA plugin
    name: 'pjrt',
    async load() {
      if (!isNode) return { reason: 'PJRT plugins need Node.js' };
      const { createPjrtBackend } = await import('./pjrt/create.js');
      return loaded(createPjrtBackend());
    },
  },
];

/** How to release each device initDevices opened. */
const releases = new Map<string, () => void>();

/**
 * Looks for accelerators (CUDA, WebGPU) and registers those that work; safe to call often
 * (options apply when devices are opened: the first call, or the first after releaseDevices).
 * TESSERA_DISABLE_CUDA / TESSERA_DISABLE_WEBGPU skip one.
 * @example await tsr.initDevices(); tsr.setDefaultDevice('auto');
 * @example await tsr.initDevices({ webgpu: { adapterName: 'NVIDIA' } });
 */
export function initDevices(opts: DeviceOptions = {}): Promise<void> {
  discovery ??= (async () => {
    for (const device of DEVICES) {
      const flag = `TESSERA_DISABLE_${device.name.toUpperCase()}`;
      if (env(flag)) { unavailable.set(device.name, `disabled by ${flag}`); continue; }
      const made = await device.load(opts);
      if ('reason' in made) unavailable.set(device.name, made.reason);
      else { backends.set(made.backend.name, made.backend); releases.set(made.backend.name, made.release); }
    }
  })();
  return discovery;
}

/**
 * Closes GPU devices so a Node process can exit (Dawn keeps the event loop busy while a device
 * is open); tensors on them become unusable. initDevices() opens them again.
 */
export async function releaseDevices(): Promise<void> {
  await discovery?.catch(() => undefined);
  for (const [name, release] of releases) {
    release();
    backends.delete(name);
  }
  releases.clear();
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

/** What 'auto' means now: a hardware GPU backend if one is registered (see initDevices), else cpu, and why. */
export function autoDevice(): { device: string; why: string } {
  const gpus = availableDevices().filter((n) => getBackend(n).info().kind !== 'cpu');
  const hardware = gpus.find((n) => !getBackend(n).info().software);
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
