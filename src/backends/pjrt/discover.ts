// Finding a PJRT plugin: TESSERA_PJRT_PLUGIN, then TPU_LIBRARY_PATH (what JAX reads on Cloud
// TPU VMs), then the `libtpu` wheel (site-packages/libtpu/libtpu.so), then JAX's CUDA plugin
// (site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so). The first file that exists wins.
import { type DiscoveryHost, nodeHost, sitePackagesDirs } from '../cuda/discover.js';

export interface PluginSearch {
  /** the plugin file, or null */
  path: string | null;
  /** where it looked, in order (for the "no plugin" message) */
  looked: string[];
}

export function findPjrtPlugin(host: DiscoveryHost = nodeHost()): PluginSearch {
  const looked: string[] = [];
  const exists = (path: string) => {
    const slash = path.lastIndexOf('/');
    return host.listDir(path.slice(0, slash) || '/').includes(path.slice(slash + 1));
  };
  for (const variable of ['TESSERA_PJRT_PLUGIN', 'TPU_LIBRARY_PATH']) {
    const v = host.env[variable];
    if (!v) { looked.push(`${variable} (unset)`); continue; }
    looked.push(`${variable}=${v}`);
    if (exists(v)) return { path: v, looked };
  }
  for (const sp of sitePackagesDirs(host).filter((d) => host.listDir(d).length > 0)) {
    const candidates = [`${sp}/libtpu/libtpu.so`];
    for (const d of host.listDir(`${sp}/jax_plugins`).filter((d) => /^xla_cuda\d*$/.test(d)).sort().reverse()) {
      candidates.push(`${sp}/jax_plugins/${d}/xla_cuda_plugin.so`);
    }
    for (const c of candidates) {
      if (exists(c)) return { path: c, looked: [...looked, c] };
    }
    looked.push(`${sp}/{libtpu/libtpu.so,jax_plugins/xla_cuda*/xla_cuda_plugin.so}`);
  }
  return { path: null, looked };
}
