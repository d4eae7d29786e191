// The safetensors format (PyTorch / Hugging Face): an 8-byte little-endian header length, a
// JSON header of {name: {dtype, shape, data_offsets}}, then raw little-endian data. Readers
// validate everything against the file size before allocating anything.
import { type DType, type TypedArray, bytesPerElement, isHalf } from '../core/dtype.js';
import { TesseraError } from '../core/errors.js';
import { halfBits, halfValues } from '../core/half.js';
import { requireNode } from '../core/platform.js';
import { writeFileAtomic } from './atomic.js';

export interface NamedArray {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** Half-precision arrays hold float32 values in memory and their 16-bit patterns in files. */
const TO_FILE: Record<DType, string> = { float32: 'F32', int32: 'I32', bool: 'BOOL', float16: 'F16', bfloat16: 'BF16' };
const FROM_FILE: Record<string, DType> = { F32: 'float32', I32: 'int32', BOOL: 'bool', F16: 'float16', BF16: 'bfloat16' };
const MAX_HEADER = 100 * 1024 * 1024;

/** Serialises named arrays (sorted by name) with optional string metadata. */
export function encodeSafetensors(tensors: Record<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array[] {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header['__metadata__'] = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const bytes = t.data.length * bytesPerElement(t.dtype);
    header[name] = { dtype: TO_FILE[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // pad so the data section starts 8-byte aligned, as the reference writer does
  let text = new TextEncoder().encode(json);
  text = new TextEncoder().encode(json + ' '.repeat((8 - ((8 + text.length) % 8)) % 8));
  const head = new Uint8Array(8);
  new DataView(head.buffer).setBigUint64(0, BigInt(text.length), true);
  const parts: Uint8Array[] = [head, text];
  for (const name of names) {
    const t = tensors[name]!;
    const d = isHalf(t.dtype) ? halfBits(t.dtype, t.data) : t.data;
    parts.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return parts;
}

export async function saveSafetensors(path: string, tensors: Record<string, NamedArray>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Parses and validates safetensors bytes; `file` names the source in errors. */
export function decodeSafetensors(bytes: Uint8Array, file = '<bytes>'): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  const bad = (detail: string): never => { throw new TesseraError('loadSafetensors', `${file}: ${detail}`); };
  if (bytes.length < 8) bad(`truncated: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) bad(`header length ${headerLen} runs past the end of the ${bytes.length}-byte file`);
  const n = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    bad(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('the header must be a JSON object');
  const dataStart = 8 + n, dataLen = bytes.length - dataStart;
  const tensors: Record<string, NamedArray> = {};
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Object.values(entry).some((v) => typeof v !== 'string')) bad('__metadata__ must map names to strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) bad(`entry '${name}' is not an object`);
    const dtype = FROM_FILE[String(e.dtype)];
    if (!dtype) bad(`tensor '${name}' has dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(FROM_FILE).join(', ')}`);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) bad(`tensor '${name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(count * bytesPerElement(dtype))) bad(`tensor '${name}' shape ${JSON.stringify(shape)} is too large`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as [number, number];
    if (end > dataLen) bad(`tensor '${name}' data [${begin}, ${end}) runs past the ${dataLen} data bytes`);
    if (end - begin !== count * bytesPerElement(dtype)) bad(`tensor '${name}' ${dtype} ${JSON.stringify(shape)} needs ${count * bytesPerElement(dtype)} bytes but its offsets span ${end - begin}`);
    spans.push([begin, end, name]);
    // a copy with its own aligned buffer (Buffer#slice would share Node's pool)
    const raw = new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end));
    const data = isHalf(dtype) ? halfValues(dtype, new Uint16Array(raw.buffer, 0, count))
      : dtype === 'float32' ? new Float32Array(raw.buffer, 0, count) : dtype === 'int32' ? new Int32Array(raw.buffer, 0, count) : new Uint8Array(raw.buffer, 0, count);
    tensors[name] = { dtype, shape, data };
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) bad(`tensors '${spans[i - 1]![2]}' and '${spans[i]![2]}' overlap`);
  }
  return { tensors, metadata };
}

export async function loadSafetensors(path: string): Promise<{ tensors: Record<string, NamedArray>; metadata: Record<string, string> }> {
  let bytes: Uint8Array;
  try {
    bytes = await requireNode('fs/promises', 'loadSafetensors').readFile(path);
  } catch (e) {
    throw new TesseraError('loadSafetensors', `${path}: cannot read (${(e as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}
