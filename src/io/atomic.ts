// Atomic file replacement: write a temporary file in the same folder, fsync, rename. A crash or
// a full disk mid-write leaves the previous file intact.
import { TesseraError } from '../core/errors.js';
import { requireNode } from '../core/platform.js';

/**
 * mkdir -p one level at a time. Node's recursive mkdir never returns for some paths (under
 * /proc, where mkdir answers ENOENT though the parent exists); level by level, it fails.
 */
export async function makeFolder(path: string): Promise<void> {
  const { mkdir, stat } = requireNode('fs/promises', 'save'), { dirname, resolve } = requireNode('path', 'save');
  const missing: string[] = [];
  for (let p = resolve(path); !(await stat(p).catch(() => null)); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) await mkdir(p).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
}

/**
 * Fails unless files can be created in `dir`, or, where it does not exist yet, in its nearest
 * existing ancestor (where it would be made): checked before training, never after. Leaves
 * nothing behind.
 */
export async function checkWritableFolder(op: string, what: string, dir: string): Promise<void> {
  const { open, stat, unlink } = requireNode('fs/promises', op), { dirname, join, resolve } = requireNode('path', op);
  let at = resolve(dir);
  for (let s = await stat(at).catch(() => null); ; s = await stat(at).catch(() => null)) {
    if (s && !s.isDirectory()) throw new TesseraError(op, `${what} ${dir}: ${at} is not a folder`);
    if (s || dirname(at) === at) break;
    at = dirname(at);
  }
  const probe = join(at, `.tessera-write-check.${process.pid}`);
  try {
    await (await open(probe, 'w')).close();
    await unlink(probe);
  } catch (e) {
    throw new TesseraError(op, `${what} ${dir}: cannot write in ${at} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** `.name.PID.TIME.tmp`: the writer's process id tells a later save whether it is stale. */
export const TEMPORARY_FILE = /^\..+\.(\d+)\.[0-9a-z]+\.tmp$/;

export async function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const { open, rename, unlink } = requireNode('fs/promises', 'save'), { basename, dirname, join } = requireNode('path', 'save');
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let handle;
  try {
    handle = await open(tmp, 'w');
    for (const c of chunks) await handle.write(c);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw new TesseraError('save', `${path}: ${(e as Error).message} (the previous file, if any, is unchanged)`);
  }
  // make the rename itself durable
  const dir = await open(dirname(path), 'r').catch(() => null);
  await dir?.sync().catch(() => {});
  await dir?.close();
}
