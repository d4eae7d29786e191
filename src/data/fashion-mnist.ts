// Fashion-MNIST and MNIST loaders: a given folder, $TESSERA_DATA, Debian's packaged copy, and
// finally the real sample shipped with tessera, so training works on a fresh machine.
import { TesseraError } from '../core/errors.js';
import { env, isNode, requireNode } from '../core/platform.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { type IdxArray, fetchIdx, readIdx } from './idx.js';

export interface Split { images: Tensor; labels: Tensor }

export interface ImageDataset {
  train: Split;
  test: Split;
  /** where the files came from */
  source: string;
  /** false when the small embedded sample was used */
  full: boolean;
  classNames: readonly string[];
}

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

const sampleDir = () => requireNode('url', 'datasets').fileURLToPath(new URL('../../../data/fashion-mnist-sample', import.meta.url));

function filesIn(dir: string): string[] | null {
  const { existsSync } = requireNode('fs', 'datasets'), { join } = requireNode('path', 'datasets');
  const found = FILES.map((f) => [join(dir, `${f}.gz`), join(dir, f)].find((p) => existsSync(p)));
  return found.every(Boolean) ? (found as string[]) : null;
}

/** On the host (cpu) unless a device is asked for: fit streams batches to the model's device. */
function toSplit(images: IdxArray, labels: IdxArray, device = 'cpu'): Split {
  if (images.shape[0] !== labels.shape[0]) {
    throw new TesseraError('datasets', `${images.shape[0]} images but ${labels.shape[0]} labels`);
  }
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i]! / 255;
  return {
    images: tensor(pixels, { shape: images.shape, device }),
    labels: tensor(Int32Array.from(labels.data), { device }),
  };
}

export interface LoadOptions {
  /** folder with the four IDX files (.gz or raw) */
  dir?: string;
  /**
   * base URL of the four files as `<name>.gz` (how a web page loads them, e.g. the sample that
   * `tessera serve` serves at `data/fashion-mnist-sample/`); relative URLs resolve against the page
   */
  url?: string;
  /** where the tensors are made (default cpu, the host: fit streams batches to the model's device) */
  device?: string;
  /** allow the embedded sample when the full set is not found (default true) */
  allowSample?: boolean;
}

async function load(name: string, debianDir: string, opts: LoadOptions, classNames: readonly string[]): Promise<ImageDataset> {
  if (opts.url !== undefined) return fetched(opts.url, opts.device, classNames);
  if (!isNode) throw new TesseraError('datasets', `${name}: a web page has no folders to look in; pass { url } with the base URL of its four IDX files (${FILES.map((f) => `${f}.gz`).join(', ')})`);
  const looked: string[] = [];
  const candidates = [opts.dir, env('TESSERA_DATA'), debianDir].filter((d): d is string => !!d);
  for (const dir of candidates) {
    looked.push(dir);
    const files = filesIn(dir);
    if (files) return read(files, dir, true, opts.device, classNames);
    if (dir === opts.dir) throw new TesseraError('datasets', `${name}: ${dir} does not hold ${FILES.join(', ')} (.gz or raw)`);
  }
  const sample = name === 'fashion-mnist' ? filesIn(sampleDir()) : null;
  if (sample && opts.allowSample !== false) return read(sample, `${sampleDir()} (embedded sample)`, false, opts.device, classNames);
  throw new TesseraError('datasets', `${name} not found; looked in ${looked.join(', ') || '(nowhere)'}. ${hint(name)}`);
}

export function hint(name: string): string {
  return `Get the full set with \`apt install dataset-${name}\` (Debian) or download its four IDX files into a folder and pass --data DIR (or set TESSERA_DATA).`;
}

/** Images in the official training and test splits (MNIST and Fashion-MNIST alike). */
const FULL_SPLITS = [60000, 10000];

/**
 * The four files, read at once; when several fail, the error is the first file's in FILES order,
 * not whichever failed first, so one broken set always gives one message.
 */
async function allInFileOrder(reads: Promise<IdxArray>[]): Promise<[IdxArray, IdxArray, IdxArray, IdxArray]> {
  const settled = await Promise.allSettled(reads);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<IdxArray>).value) as [IdxArray, IdxArray, IdxArray, IdxArray];
}

async function read(files: string[], source: string, found: boolean, device: string | undefined, classNames: readonly string[]): Promise<ImageDataset> {
  const [trainX, trainY, testX, testY] = await allInFileOrder(files.map(readIdx));
  // a folder given with --data may hold the shipped sample or a subset: full means the real split sizes
  const full = found && trainX.shape[0] === FULL_SPLITS[0] && testX.shape[0] === FULL_SPLITS[1];
  return { train: toSplit(trainX, trainY, device), test: toSplit(testX, testY, device), source, full, classNames };
}

async function fetched(url: string, device: string | undefined, classNames: readonly string[]): Promise<ImageDataset> {
  const base = url.endsWith('/') ? url : `${url}/`;
  const where = (globalThis as { location?: { href: string } }).location?.href;
  let urls: string[];
  try {
    urls = FILES.map((f) => new URL(`${f}.gz`, where ? new URL(base, where) : base).href);
  } catch {
    throw new TesseraError('datasets', `'${url}' is not a URL (outside a web page it must be absolute, e.g. http://host/data/)`);
  }
  const [trainX, trainY, testX, testY] = await allInFileOrder(urls.map(fetchIdx));
  const full = trainX.shape[0] === FULL_SPLITS[0] && testX.shape[0] === FULL_SPLITS[1];
  return { train: toSplit(trainX, trainY, device), test: toSplit(testX, testY, device), source: base, full, classNames };
}

/**
 * Fashion-MNIST: 28x28 grey images of 10 clothing classes, scaled to [0, 1].
 * @example const { train, test } = await tsr.datasets.fashionMnist();
 */
export function fashionMnist(opts: LoadOptions = {}): Promise<ImageDataset> {
  return load('fashion-mnist', '/usr/share/datasets/fashion-mnist', opts, FASHION_MNIST_CLASSES);
}

/** MNIST digits, same layout. */
export function mnist(opts: LoadOptions = {}): Promise<ImageDataset> {
  return load('mnist', '/usr/share/datasets/mnist', opts, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
}
