// keepLoaded: a library tessera loads stays mapped when koffi unloads it, as Node does at exit
// (unmapped under OpenBLAS's running threads, it was a SIGSEGV after the program's last line).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ffi = fileURLToPath(new URL('../../src/core/ffi.js', import.meta.url));
// a library node itself does not load, so the child's koffi handle is its only one
const LIBRARY = 'libz.so.1';

/** In a fresh process: load LIBRARY through koffi, pin it or not, unload it; is it still mapped? */
function afterUnload(pinned: boolean): { pinned: boolean; mapped: boolean } {
  const script = `
    const { loadKoffi, keepLoaded } = await import(${JSON.stringify(ffi)});
    const koffi = loadKoffi();
    const dlopen = koffi.load('libc.so.6').func('void *dlopen(const char *path, int flags)');
    const RTLD_LAZY = 0x1, RTLD_NOLOAD = 0x4;
    const lib = koffi.load('${LIBRARY}');
    const pinned = ${pinned} && keepLoaded(koffi, '${LIBRARY}');
    lib.unload();
    console.log(JSON.stringify({ pinned, mapped: dlopen('${LIBRARY}', RTLD_LAZY | RTLD_NOLOAD) !== null }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { pinned: boolean; mapped: boolean };
}

describe('keepLoaded', { skip: process.platform !== 'linux' && 'the check reads glibc\'s dlopen' }, () => {
  it('keeps a library mapped after koffi unloads it; without it, koffi\'s unload unmaps it', () => {
    assert.deepEqual(afterUnload(true), { pinned: true, mapped: true });
    assert.deepEqual(afterUnload(false), { pinned: false, mapped: false });
  });
});
