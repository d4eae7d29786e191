// What the browser's WebGPU adapter says of itself (all its features and the limits that bound
// training), read beside tessera's device so the panel shows both.
import type { AdapterReport } from './protocol.js';

const LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage'] as const;

export async function adapterReport(): Promise<AdapterReport | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return null;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    fallback: info.isFallbackAdapter ?? null,
    limits: Object.fromEntries(LIMITS.map((k) => [k, adapter.limits[k]])),
    features: [...adapter.features].sort(),
  };
}
