// Dawn writes notices straight to the process's stderr (file descriptor 2) while it opens
// adapters: on Mesa's lavapipe two lines about limits it lowers, on every webgpu or auto run,
// which a user can neither act on nor silence. Around adapter requests fd 2 goes to a
// temporary file (dup/dup2 from libc through koffi); those known notices are dropped and
// anything else written meanwhile is passed on unchanged.
import { env, nodeBuiltin } from '../../core/platform.js';
import { loadKoffi } from '../../core/ffi.js';

/** Notices about limits Dawn reduces to fit its own allocation scheme: informational only. */
const HARMLESS = /^Warning: maxDynamic\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

interface Libc { dup(fd: number): number; dup2(from: number, to: number): number; close(fd: number): number }
let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const mod = nodeBuiltin('module'), os = nodeBuiltin('os');
  if (!mod || os?.platform() !== 'linux') return libc;
  try {
    const koffi = loadKoffi();
    const lib = koffi.load('libc.so.6');
    libc = { dup: lib.func('int dup(int)'), dup2: lib.func('int dup2(int, int)'), close: lib.func('int close(int)') };
  } catch {
    libc = null;
  }
  return libc;
}

/** Runs `open` (adapter requests) with Dawn's harmless notices filtered out of stderr. */
export async function filterDawnNotices<T>(open: () => Promise<T>): Promise<T> {
  const c = env('TESSERA_DAWN_NOTICES') ? null : loadLibc();
  const fs = nodeBuiltin('fs'), path = nodeBuiltin('path'), os = nodeBuiltin('os');
  if (!c || !fs || !path || !os) return open();
  const file = path.join(os.tmpdir(), `tessera-dawn-${process.pid}-${Date.now().toString(36)}.log`);
  let fd: number;
  try {
    fd = fs.openSync(file, 'w+');
  } catch {
    return open();
  }
  const saved = c.dup(2);
  if (saved < 0 || c.dup2(fd, 2) < 0) {
    if (saved >= 0) c.close(saved);
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    return open();
  }
  try {
    return await open();
  } finally {
    c.dup2(saved, 2);
    c.close(saved);
    const text = fs.readFileSync(file, 'utf8');
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    const rest = text.split('\n').filter((line, i, all) => !HARMLESS.test(line) && (line !== '' || i < all.length - 1));
    if (rest.length) process.stderr.write(rest.join('\n') + '\n');
  }
}
