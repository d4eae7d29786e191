// Atomic file replacement: write a temporary file in the same folder, fsync, rename. A crash or
// a full disk mid-write leaves the previous file intact.
import { TesseraError } from '../core/errors.js';
import { requireNode } from '../core/platform.js';

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
