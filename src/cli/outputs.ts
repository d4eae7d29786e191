// Output paths of `tessera train` (--save, --plot) and `bench --out`, checked before any work: a run must
// never finish only to find it cannot write its results.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fail } from '../core/errors.js';
import { checkWritableFolder, makeFolder } from '../io/atomic.js';
import { MODEL_JSON } from '../io/model-dir.js';

/** --plot FILE: not a folder, and its folder exists and is writable. */
export async function checkOutputFile(flag: string, path: string): Promise<void> {
  if (!path) fail('train', `${flag} needs a file name`);
  const s = await stat(path).catch(() => null);
  if (s?.isDirectory()) fail('train', `${flag} ${path} is a folder; give a file name`);
  if (s && !s.isFile()) fail('train', `${flag} ${path} is not a regular file`);
  if (s) await access(path, constants.W_OK).catch(() => fail('train', `${flag} ${path}: the file is not writable`));
  const dir = dirname(resolve(path));
  const d = await stat(dir).catch(() => null);
  if (!d?.isDirectory()) fail('train', `${flag} ${path}: the folder ${dir} does not exist`);
  await checkWritableFolder('train', flag, dir);
}

/** An output folder (--save, bench --out): created if missing, and writable. */
export async function checkOutputFolder(op: string, flag: string, path: string): Promise<void> {
  if (!path) fail(op, `${flag} needs a folder name`);
  const s = await stat(path).catch(() => null);
  if (s && !s.isDirectory()) fail(op, `${flag} ${path} exists and is not a folder`);
  try {
    await makeFolder(path);
  } catch (e) {
    fail(op, `${flag} ${path}: cannot create the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  await checkWritableFolder(op, flag, path);
}

/**
 * --save DIR: a writable folder (created if missing) that holds no model.json other than the
 * one being resumed, unless --overwrite says replacing it is intended.
 */
export async function checkSaveFolder(path: string, opts: { resuming?: string; overwrite: boolean }): Promise<void> {
  await checkOutputFolder('train', '--save', path);
  const sameAsResumed = opts.resuming !== undefined && resolve(opts.resuming) === resolve(path);
  const foreign = await stat(join(path, MODEL_JSON)).then(() => true, () => false);
  if (foreign && !sameAsResumed && !opts.overwrite) {
    fail('train', `--save ${path} already holds a saved model (${MODEL_JSON}); pass --overwrite to replace it, --resume ${path} to continue it, or choose another folder`);
  }
}
