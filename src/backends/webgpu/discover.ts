// Finding a WebGPU adapter: navigator.gpu in browsers, the `webgpu` package (Dawn) in Node.
import { filterDawnNotices } from './dawn-notices.js';
import { WebGpuBackend } from './webgpu-backend.js';

export interface WebGpuOptions {
  /** pick the adapter whose description contains this text */
  adapterName?: string;
  powerPreference?: 'high-performance' | 'low-power';
}

async function gpuEntry(): Promise<{ gpu: GPU; source: string } | { error: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu' };
  if (typeof process === 'undefined' || !process.versions?.node) return { error: 'this browser has no navigator.gpu (WebGPU)' };
  try {
    const pkg = 'webgpu';
    const dawn = (await import(pkg)) as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    Object.assign(globalThis, dawn.globals);
    return { gpu: dawn.create([]), source: 'webgpu (Dawn) package' };
  } catch (e) {
    return { error: `the optional 'webgpu' package (Dawn) could not be loaded: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** Dawn's GPU instance must outlive every device made from it; dropping it crashes the process. */
const keepAlive: GPU[] = [];

const NO_ADAPTER_HINT =
  'no WebGPU adapter was found; on Linux install Vulkan drivers (Debian/Ubuntu: `apt install mesa-vulkan-drivers libvulkan1`, ' +
  'Mesa 24 or newer, e.g. from bookworm-backports) or the GPU vendor\'s driver';

function adapterName(info: GPUAdapterInfo): string {
  // e.g. "NVIDIA H100 80GB HBM3 (nvidia, NVIDIA: 550.54)"; lavapipe's device name says llvmpipe
  const extra = [info.vendor, info.description].filter(Boolean).join(', ');
  return `${info.device || info.architecture || 'WebGPU adapter'}${extra ? ` (${extra})` : ''}`;
}

/**
 * The adapter to use: the high-performance one by default; with a name, the first adapter
 * whose name contains it among those WebGPU offers (high-performance, low-power, fallback).
 */
async function chooseAdapter(gpu: GPU, opts: WebGpuOptions): Promise<{ adapter: GPUAdapter; name: string } | { reason: string }> {
  const requests: GPURequestAdapterOptions[] = [{ powerPreference: opts.powerPreference ?? 'high-performance' }];
  if (opts.adapterName) requests.push({ powerPreference: 'low-power' }, { forceFallbackAdapter: true });
  const seen: string[] = [];
  for (const request of requests) {
    let adapter: GPUAdapter | null;
    try {
      adapter = await filterDawnNotices(() => gpu.requestAdapter(request));
    } catch (e) {
      return { reason: `requestAdapter failed (${(e as Error).message}); ${NO_ADAPTER_HINT}` };
    }
    if (!adapter) continue;
    const name = adapterName(adapter.info ?? ({} as GPUAdapterInfo));
    if (!opts.adapterName || name.toLowerCase().includes(opts.adapterName.toLowerCase())) return { adapter, name };
    if (!seen.includes(name)) seen.push(name);
  }
  if (opts.adapterName && seen.length) return { reason: `no adapter matches '${opts.adapterName}'; found: ${seen.map((n) => `'${n}'`).join(', ')}` };
  return { reason: NO_ADAPTER_HINT };
}

/** Creates the webgpu backend, or says why it cannot. */
export async function createWebGpuBackend(opts: WebGpuOptions = {}): Promise<WebGpuBackend | { reason: string }> {
  const entry = await gpuEntry();
  if ('error' in entry) return { reason: entry.error };
  keepAlive.push(entry.gpu);
  const chosen = await chooseAdapter(entry.gpu, opts);
  if ('reason' in chosen) return { reason: `${chosen.reason} (tried ${entry.source})` };
  const { adapter, name } = chosen;
  const want: Record<string, number> = {};
  for (const k of ['maxStorageBuffersPerShaderStage', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const) {
    want[k] = adapter.limits[k];
  }
  // timestamps let the profiler and `tessera verify` time kernels on the GPU itself
  const requiredFeatures = (['timestamp-query'] as const).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits: want, requiredFeatures });
  return new WebGpuBackend(device, adapter.info ?? ({} as GPUAdapterInfo), name);
}
