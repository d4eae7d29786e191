// CUDA library discovery against fake machine layouts (no GPU needed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type DiscoveryHost, discoverCuda, searchPath } from '../../src/backends/cuda/discover.js';

/** A machine made of folders and file names. */
function host(tree: Record<string, string[]>, env: Record<string, string> = {}, ldconfig: string[] = []): DiscoveryHost {
  return { env, listDir: (d) => tree[d] ?? [], ldconfigCache: () => ldconfig };
}

describe('CUDA library discovery', () => {
  it('searches TESSERA_CUDA_PATH/CUDA_PATH/CUDA_HOME, the loader path, /usr/local/cuda*, then Python wheels, in that order', () => {
    const h = host({
      '/usr/local': ['cuda-12.4', 'cuda', 'cuda-12.10', 'bin'],
      '/home/u/.pyenv/versions': ['3.11.9'],
      '/home/u/.pyenv/versions/3.11.9/lib': ['python3.11'],
      '/home/u/.pyenv/versions/3.11.9/lib/python3.11/site-packages/nvidia': ['cublas', 'cuda_nvrtc'],
    }, { TESSERA_CUDA_PATH: '/opt/t', CUDA_HOME: '/opt/h', LD_LIBRARY_PATH: '/ld/a::/ld/b', HOME: '/home/u' });
    const path = searchPath(h);
    const at = (d: string) => path.indexOf(d);
    assert.ok(at('/opt/t/lib64') === 0 && at('/opt/t/lib64') < at('/opt/h/lib64'));
    assert.ok(at('/opt/h/lib64') < at('/ld/a') && at('/ld/a') < at('/ld/b'));
    assert.ok(at('/ld/b') < at('/usr/local/cuda/lib64'));
    assert.ok(at('/usr/local/cuda/lib64') < at('/usr/local/cuda-12.10/lib64') && at('/usr/local/cuda-12.10/lib64') < at('/usr/local/cuda-12.4/lib64'), 'newest version first');
    assert.ok(at('/usr/local/cuda-12.4/targets/x86_64-linux/lib') < at('/home/u/.pyenv/versions/3.11.9/lib/python3.11/site-packages/nvidia/cublas/lib'));
    assert.ok(!path.includes(''));
  });

  it("finds PyTorch's wheel libraries and the driver from the loader cache", () => {
    const sp = '/usr/local/lib/python3.11/dist-packages';
    const d = discoverCuda(host({
      '/usr/local/lib': ['python3.11'],
      [`${sp}/nvidia`]: ['cublas', 'cuda_nvrtc', 'cudnn'],
      [`${sp}/nvidia/cublas/lib`]: ['libcublas.so.12', 'libcublasLt.so.12', 'libnvblas.so.12'],
      [`${sp}/nvidia/cuda_nvrtc/lib`]: ['libnvrtc.so.12', 'libnvrtc-builtins.so.12.4'],
    }, {}, [
      '\t1234 libs found in cache `/etc/ld.so.cache\'',
      '\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1',
      '\tlibcuda.so (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so',
    ]));
    assert.deepEqual(d.found.cublas, { path: `${sp}/nvidia/cublas/lib/libcublas.so.12`, major: 12 });
    assert.deepEqual(d.found.cublasLt, { path: `${sp}/nvidia/cublas/lib/libcublasLt.so.12`, major: 12 });
    assert.deepEqual(d.found.nvrtc, { path: `${sp}/nvidia/cuda_nvrtc/lib/libnvrtc.so.12`, major: 12 });
    assert.deepEqual(d.found.cuda, { path: '/usr/lib/x86_64-linux-gnu/libcuda.so.1', major: null });
  });

  it('prefers CUDA 13 to 12 in a folder, skips unsupported majors, and an explicit path wins', () => {
    const d = discoverCuda(host({
      '/opt/cuda/lib64': ['libnvrtc.so.11.2', 'libcublas.so.11'],
      '/usr/local': ['cuda-13.0'],
      '/usr/local/cuda-13.0/lib64': ['libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so.13.0.88', 'libnvrtc.so.12', 'libcublas.so.13.1.0.3', 'libcublasLt.so.13'],
    }, { CUDA_PATH: '/opt/cuda' }));
    assert.deepEqual(d.found.nvrtc, { path: '/usr/local/cuda-13.0/lib64/libnvrtc.so.13', major: 13 });
    assert.deepEqual(d.found.cublas, { path: '/usr/local/cuda-13.0/lib64/libcublas.so.13.1.0.3', major: 13 });
    assert.equal(d.found.cuda, undefined);
    const explicit = discoverCuda(host({ '/mine/lib64': ['libnvrtc.so.12'], '/usr/local': ['cuda'], '/usr/local/cuda/lib64': ['libnvrtc.so.13'] }, { TESSERA_CUDA_PATH: '/mine' }));
    assert.equal(explicit.found.nvrtc!.path, '/mine/lib64/libnvrtc.so.12');
  });

  it('an empty machine finds nothing and lists where it looked', () => {
    const d = discoverCuda(host({}, { LD_LIBRARY_PATH: '/x' }));
    assert.deepEqual(d.found, {});
    assert.deepEqual(d.searched, ['/x']);
  });
});
