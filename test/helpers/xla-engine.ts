// A second engine for the fake PJRT plugin: XLA's own CPU compiler, reached through an installed
// jax/jaxlib (test/helpers/xla-runner.py) over two named pipes read and written synchronously,
// so the plugin's synchronous calls can wait for it. Not used on CI (no jax there): a local check
// that a real StableHLO parser, verifier and compiler accept every module tessera emits.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from './stablehlo-interpreter.js';

const SCRIPT = fileURLToPath(new URL('../../../test/helpers/xla-runner.py', import.meta.url));
const CODE: Record<string, number> = { i1: 1, i32: 4, ui32: 8, f32: 11 };
const TYPE: Record<number, string> = { 1: 'i1', 4: 'i32', 8: 'ui32', 11: 'f32' };

export class XlaEngine {
  private readonly requests: number;
  private readonly replies: number;

  constructor(python: string) {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-xla-'));
    const req = join(dir, 'requests'), rep = join(dir, 'replies');
    if (spawnSync('mkfifo', [req, rep]).status !== 0) throw new Error('mkfifo failed');
    spawn(python, [SCRIPT, req, rep], { stdio: ['ignore', 'inherit', 'inherit'] }).unref();
    // each open waits for the other side, in the order the runner opens them
    this.requests = openSync(req, 'w');
    this.replies = openSync(rep, 'r');
  }

  private read(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let at = 0; at < n;) {
      const got = readSync(this.replies, out, at, n - at, null);
      if (got === 0) throw new Error('the XLA runner exited');
      at += got;
    }
    return out;
  }

  private failure(): Error {
    const n = this.read(4).readUInt32LE(0);
    return new Error(this.read(n).toString());
  }

  compile(text: string): number {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(1, 0);
    head.writeUInt32LE(body.length, 4);
    writeSync(this.requests, Buffer.concat([head, body]));
    const id = this.read(4).readInt32LE(0);
    if (id < 0) throw this.failure();
    return id;
  }

  run(id: number, inputs: readonly Tensor[]): Tensor[] {
    const parts: Buffer[] = [];
    const u32 = (...v: number[]) => { const b = Buffer.alloc(4 * v.length); v.forEach((x, k) => b.writeUInt32LE(x, 4 * k)); parts.push(b); };
    u32(2, id, inputs.length);
    for (const t of inputs) {
      u32(CODE[t.type]!, t.shape.length);
      const dims = Buffer.alloc(8 * t.shape.length + 8);
      t.shape.forEach((d, k) => dims.writeBigInt64LE(BigInt(d), 8 * k));
      dims.writeBigUInt64LE(BigInt(t.data.byteLength), 8 * t.shape.length);
      parts.push(dims, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    writeSync(this.requests, Buffer.concat(parts));
    if (this.read(4).readInt32LE(0) !== 0) throw this.failure();
    const count = this.read(4).readUInt32LE(0);
    return Array.from({ length: count }, () => {
      const [code, rank] = [this.read(4).readUInt32LE(0), this.read(4).readUInt32LE(0)];
      const dims = this.read(8 * rank);
      const shape = Array.from({ length: rank }, (_, k) => Number(dims.readBigInt64LE(8 * k)));
      const bytes = this.read(Number(this.read(8).readBigUInt64LE(0)));
      const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
      const type = TYPE[code]!;
      const data = type === 'f32' ? new Float32Array(ab) : type === 'i32' ? new Int32Array(ab) : type === 'ui32' ? new Uint32Array(ab) : new Uint8Array(ab);
      return { shape, type, data };
    });
  }
}
