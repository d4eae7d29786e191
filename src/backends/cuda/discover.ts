// Finding CUDA's libraries at run time, for whatever CUDA 12 or 13 is installed: the driver
// (libcuda), NVRTC (kernels compiled on the fly) and cuBLAS/cuBLASLt. Nothing is linked at
// build time. Search order: TESSERA_CUDA_PATH, CUDA_PATH, CUDA_HOME; the dynamic loader's path
// (LD_LIBRARY_PATH, then the ldconfig cache); /usr/local/cuda*; the lib folders of Python's
// nvidia-* wheels (where PyTorch installs cuBLAS and NVRTC).
import { nodeBuiltin } from '../../core/platform.js';

export type CudaLibraryName = 'cuda' | 'nvrtc' | 'cublas' | 'cublasLt';

export interface FoundLibrary { path: string; major: number | null }

export interface CudaDiscovery {
  found: Partial<Record<CudaLibraryName, FoundLibrary>>;
  /** the folders searched, in order */
  searched: string[];
}

/** What discovery reads from the machine; tests pass fakes. */
export interface DiscoveryHost {
  env: Record<string, string | undefined>;
  listDir(dir: string): string[];
  /** lines of `ldconfig -p` */
  ldconfigCache(): string[];
}

const PATTERNS: Record<CudaLibraryName, RegExp> = {
  cuda: /^libcuda\.so(\.(\d+))?(\.\d+)*$/,
  nvrtc: /^libnvrtc\.so(\.(\d+))?(\.\d+)*$/,
  cublas: /^libcublas\.so(\.(\d+))?(\.\d+)*$/,
  cublasLt: /^libcublasLt\.so(\.(\d+))?(\.\d+)*$/,
};
/** CUDA majors tessera drives; a library of another major is passed over */
const SUPPORTED_MAJORS = [13, 12];

const libDirsOf = (root: string) => [`${root}/lib64`, `${root}/lib`, `${root}/targets/x86_64-linux/lib`, `${root}/targets/sbsa-linux/lib`];

/** Library folders under TESSERA_CUDA_PATH, CUDA_PATH and CUDA_HOME. */
function envRoots(host: DiscoveryHost): string[] {
  return ['TESSERA_CUDA_PATH', 'CUDA_PATH', 'CUDA_HOME'].map((k) => host.env[k]).filter((v): v is string => !!v).flatMap(libDirsOf);
}

/** /usr/local/cuda, then versioned installs, newest first. */
function localRoots(host: DiscoveryHost): string[] {
  const dirs = host.listDir('/usr/local').filter((d) => /^cuda(-[\d.]+)?$/.test(d));
  const version = (d: string) => (d === 'cuda' ? [Infinity] : d.slice(5).split('.').map(Number));
  dirs.sort((x, y) => { const a = version(x), b = version(y); for (let i = 0; i < Math.max(a.length, b.length); i++) { const d = (b[i] ?? 0) - (a[i] ?? 0); if (d) return d; } return 0; });
  return dirs.flatMap((d) => libDirsOf(`/usr/local/${d}`));
}

/** The site-packages (and dist-packages) folders of the Python installations we can see. */
export function sitePackagesDirs(host: DiscoveryHost): string[] {
  const sitePackages: string[] = [];
  const venv = host.env['VIRTUAL_ENV'];
  const home = host.env['HOME'];
  const pythonLibs = ['/usr/lib', '/usr/local/lib', ...(venv ? [`${venv}/lib`] : []), ...(home ? [`${home}/.local/lib`] : [])];
  if (home) for (const v of host.listDir(`${home}/.pyenv/versions`)) pythonLibs.push(`${home}/.pyenv/versions/${v}/lib`);
  for (const lib of pythonLibs) {
    for (const py of host.listDir(lib).filter((d) => /^python3(\.\d+)?$/.test(d))) {
      for (const kind of ['site-packages', 'dist-packages']) sitePackages.push(`${lib}/${py}/${kind}`);
    }
  }
  return sitePackages;
}

/** site-packages/nvidia/<pkg>/lib folders of the Python installations we can see. */
function wheelDirs(host: DiscoveryHost): string[] {
  const sitePackages = sitePackagesDirs(host);
  const dirs: string[] = [];
  for (const sp of sitePackages) {
    for (const pkg of host.listDir(`${sp}/nvidia`)) {
      // CUDA 12 wheels: nvidia/cublas/lib; CUDA 13 wheels gather libraries under nvidia/cu13/lib
      dirs.push(`${sp}/nvidia/${pkg}/lib`);
    }
  }
  return dirs;
}

/** Folders to search, in order, without repeats. */
export function searchPath(host: DiscoveryHost): string[] {
  const loader = (host.env['LD_LIBRARY_PATH'] ?? '').split(':').filter(Boolean);
  return [...new Set([...envRoots(host), ...loader, ...localRoots(host), ...wheelDirs(host)])];
}

function majorOf(file: string, pattern: RegExp): number | null {
  const m = pattern.exec(file);
  return m?.[2] ? Number(m[2]) : null;
}

/** The best file for a library in one folder: a supported major, newest first; a bare .so last. */
function pick(files: string[], name: CudaLibraryName): { file: string; major: number | null } | null {
  const matches = files.filter((f) => PATTERNS[name].test(f)).map((file) => ({ file, major: majorOf(file, PATTERNS[name]) }));
  if (name === 'cuda') return matches.find((m) => m.major === 1) ?? matches[0] ?? null;
  for (const major of SUPPORTED_MAJORS) {
    const hit = matches.filter((m) => m.major === major).sort((a, b) => a.file.length - b.file.length)[0];
    if (hit) return hit;
  }
  return null;
}

export function discoverCuda(host: DiscoveryHost = nodeHost()): CudaDiscovery {
  const searched = searchPath(host);
  const found: CudaDiscovery['found'] = {};
  for (const dir of searched) {
    const files = host.listDir(dir);
    for (const name of Object.keys(PATTERNS) as CudaLibraryName[]) {
      if (found[name]) continue;
      const hit = pick(files, name);
      if (hit) found[name] = { path: `${dir}/${hit.file}`, major: name === 'cuda' ? null : hit.major };
    }
  }
  // the driver usually sits in the system library folder, known to the loader's cache
  for (const line of host.ldconfigCache()) {
    const m = /^\s*(\S+)\s.*=>\s*(\S+)$/.exec(line);
    if (!m) continue;
    for (const name of Object.keys(PATTERNS) as CudaLibraryName[]) {
      if (found[name] || !PATTERNS[name].test(m[1]!)) continue;
      const major = majorOf(m[1]!, PATTERNS[name]);
      if (name === 'cuda' || (major !== null && SUPPORTED_MAJORS.includes(major))) found[name] = { path: m[2]!, major: name === 'cuda' ? null : major };
    }
  }
  return { found, searched };
}

/** The machine itself, for discovery. */
export function nodeHost(): DiscoveryHost {
  const fs = nodeBuiltin('fs');
  const proc = (globalThis as { process?: { env: Record<string, string | undefined> } }).process;
  return {
    env: proc?.env ?? {},
    listDir: (dir) => {
      try {
        return fs?.readdirSync(dir) ?? [];
      } catch {
        return [];
      }
    },
    ldconfigCache: () => {
      const cp = nodeBuiltin('child_process');
      for (const ldconfig of ['ldconfig', '/sbin/ldconfig']) {
        const r = cp?.spawnSync(ldconfig, ['-p'], { encoding: 'utf8', timeout: 5000 });
        if (r?.status === 0) return r.stdout.split('\n');
      }
      return [];
    },
  };
}
