// IDX files (the MNIST family's format), raw or gzip, validated before any large allocation.
import { requireNode } from '../core/platform.js';
import { TesseraError } from '../core/errors.js';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

function bad(file: string, detail: string): never {
  throw new TesseraError('readIdx', `${file}: ${detail}`);
}

/** Parses IDX bytes of unsigned-byte data (type 0x08), the type the MNIST family uses. */
export function parseIdx(bytes: Uint8Array, file = '<bytes>'): IdxArray {
  if (bytes.length < 4) bad(file, `truncated: ${bytes.length} bytes, shorter than the 4-byte IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) bad(file, 'not an IDX file (the first two bytes must be zero)');
  if (bytes[2] !== 0x08) bad(file, `unsupported IDX element type 0x${bytes[2]!.toString(16)} (expected 0x08, unsigned bytes)`);
  const rank = bytes[3]!;
  const headerLen = 4 + 4 * rank;
  if (rank === 0 || rank > 4) bad(file, `unexpected IDX rank ${rank}`);
  if (bytes.length < headerLen) bad(file, `truncated header: ${bytes.length} bytes for rank ${rank}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - headerLen !== size) {
    bad(file, `${bytes.length - headerLen} data bytes for shape [${shape.join(', ')}] (${size} expected): the file is ${bytes.length - headerLen < size ? 'truncated' : 'longer than its header says'}`);
  }
  return { shape, data: bytes.subarray(headerLen) };
}

/** Reads an IDX file; names ending in .gz are gunzipped. */
export async function readIdx(file: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await requireNode('fs/promises', 'readIdx').readFile(file);
  } catch (e) {
    bad(file, `cannot read: ${(e as Error).message}`);
  }
  if (file.endsWith('.gz') || (bytes[0] === 0x1f && bytes[1] === 0x8b)) {
    try {
      bytes = requireNode('zlib', 'readIdx').gunzipSync(bytes);
    } catch (e) {
      bad(file, `corrupt gzip data (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, file);
}

/** Fetches an IDX file (browsers, or Node's fetch); gzip data is recognised by its magic bytes. */
export async function fetchIdx(url: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    const response = await fetch(url);
    if (!response.ok) bad(url, `cannot fetch: HTTP ${response.status} ${response.statusText}`.trim());
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    bad(url, `cannot fetch: ${(e as Error).message}`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    } catch (e) {
      bad(url, `corrupt gzip data (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, url);
}
