// safetensors: the byte layout of the specification, round trips, validation of hostile files,
// atomic writes, and weights save/load with precise mismatch reports.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tsr from '../../src/index.js';
import { Rng } from '../helpers/check.js';

describe('safetensors', () => {
  it('writes the layout of the specification', () => {
    const bytes = Buffer.concat(tsr.encodeSafetensors({ b: { dtype: 'int32', shape: [2], data: Int32Array.of(7, -1) }, a: { dtype: 'float32', shape: [1, 1], data: Float32Array.of(1.5) } }, { note: 'x' }));
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0, 'data section 8-byte aligned');
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
    assert.deepEqual(header, {
      __metadata__: { note: 'x' },
      a: { dtype: 'F32', shape: [1, 1], data_offsets: [0, 4] },
      b: { dtype: 'I32', shape: [2], data_offsets: [4, 12] },
    });
    assert.equal(bytes.readFloatLE(8 + n), 1.5);
    assert.equal(bytes.readInt32LE(8 + n + 8), -1);
  });

  it('stores float16 and bfloat16 as their 16-bit patterns and reads back their values', () => {
    const values = Float32Array.of(1, -2.5, 1 + 2 ** -12, 70000);
    const bytes = Buffer.concat(tsr.encodeSafetensors({ h: { dtype: 'float16', shape: [4], data: values }, b: { dtype: 'bfloat16', shape: [2, 2], data: values } }));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
    assert.deepEqual(header.b, { dtype: 'BF16', shape: [2, 2], data_offsets: [0, 8] });
    assert.deepEqual(header.h, { dtype: 'F16', shape: [4], data_offsets: [8, 16] });
    const u16 = (i: number) => bytes.readUInt16LE(8 + n + 2 * i);
    assert.deepEqual([0, 1, 2, 3].map(u16), [0x3f80, 0xc020, 0x3f80, 0x4789], 'bfloat16 bits');
    assert.deepEqual([4, 5, 6, 7].map(u16), [0x3c00, 0xc100, 0x3c00, 0x7c00], 'float16 bits (70000 overflows to infinity)');
    const { tensors } = tsr.decodeSafetensors(bytes, 'half.st');
    assert.equal(tensors['b']!.dtype, 'bfloat16');
    assert.deepEqual([...tensors['b']!.data], [1, -2.5, 1, 70144]);
    assert.deepEqual([...tensors['h']!.data], [1, -2.5, 1, Infinity]);
  });

  it('round-trips and rejects hostile headers with the file named', () => {
    const good = Buffer.concat(tsr.encodeSafetensors({ w: { dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) } }));
    const { tensors } = tsr.decodeSafetensors(good, 'good.st');
    assert.deepEqual([...tensors['w']!.data], [1, 2, 3, 4]);
    const withHeader = (h: unknown, data = 16) => {
      const json = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([len, json, Buffer.alloc(data)]);
    };
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, 5), /f\.st: truncated/],
      [Buffer.concat([Buffer.from([255, 255, 255, 255, 255, 255, 255, 127]), Buffer.alloc(8)]), /header length \d+ runs past the end/],
      [withHeader('x'), /must be a JSON object/],
      [Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a"')]), /not valid JSON/],
      [withHeader({ w: { dtype: 'F99', shape: [1], data_offsets: [0, 4] } }), /dtype "F99"/],
      [withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /invalid shape/],
      [withHeader({ w: { dtype: 'F32', shape: [1e15, 1e15], data_offsets: [0, 4] } }), /too large|needs/],
      [withHeader({ w: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }), /runs past the 16 data bytes/],
      [withHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }), /needs 8 bytes but its offsets span 4/],
      [withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), /'a' and 'b' overlap/],
    ];
    for (const [bytes, re] of cases) assert.throws(() => tsr.decodeSafetensors(bytes, 'f.st'), re);
  });

  it('fuzz: mutated files either load or fail with a loadSafetensors error', () => {
    const good = Buffer.concat(tsr.encodeSafetensors({ a: { dtype: 'float32', shape: [3, 2], data: new Float32Array(6) }, b: { dtype: 'bool', shape: [5], data: new Uint8Array(5) } }));
    const rng = new Rng(99);
    let loaded = 0, rejected = 0;
    for (let i = 0; i < 500; i++) {
      const m = Buffer.from(good);
      const edits = 1 + Math.floor(rng.next() * 4);
      for (let e = 0; e < edits; e++) m[Math.floor(rng.next() * m.length)] = Math.floor(rng.next() * 256);
      const cut = rng.next() < 0.2 ? m.subarray(0, Math.floor(rng.next() * m.length)) : m;
      try {
        tsr.decodeSafetensors(cut, 'fuzz');
        loaded++;
      } catch (e) {
        assert.ok(e instanceof tsr.TesseraError && /^loadSafetensors: fuzz: /.test(e.message), `unexpected error: ${e}`);
        rejected++;
      }
    }
    assert.ok(loaded > 0 && rejected > 0, `${loaded} loaded, ${rejected} rejected`);
  });

  it('a failed save leaves the previous file intact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-st-'));
    const path = join(dir, 'w.safetensors');
    await tsr.saveSafetensors(path, { x: { dtype: 'float32', shape: [1], data: Float32Array.of(1) } });
    const before = await readFile(path);
    await chmod(dir, 0o500);
    try {
      if (process.getuid?.() === 0) {
        // root ignores permissions: make the write fail by targeting a folder name instead
        await assert.rejects(tsr.saveSafetensors(join(dir, 'missing', 'w.safetensors'), { x: { dtype: 'float32', shape: [1], data: Float32Array.of(2) } }), /save: .*previous file, if any, is unchanged/);
      } else {
        await assert.rejects(tsr.saveSafetensors(path, { x: { dtype: 'float32', shape: [1], data: Float32Array.of(2) } }), /save: .*unchanged/);
      }
    } finally {
      await chmod(dir, 0o700);
    }
    assert.deepEqual(await readFile(path), before);
  });

  it('model weights save and load by name, and mismatches are listed precisely', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-w-'));
    const make = (units: number) => tsr.sequential([tsr.layers.dense({ units: 4, inputShape: [3], name: 'hidden' }), tsr.layers.batchNormalization({ name: 'bn' }), tsr.layers.dense({ units, name: 'out' })]);
    const a = make(2), b = make(2);
    const x = tsr.randn([5, 3], { seed: 1 });
    await a.saveWeights(join(dir, 'a.safetensors'));
    await b.loadWeights(join(dir, 'a.safetensors'));
    b.eval(); a.eval();
    assert.deepEqual(await b.apply(x).data(), await a.apply(x).data());
    const { tensors } = await tsr.loadSafetensors(join(dir, 'a.safetensors'));
    assert.deepEqual(Object.keys(tensors).sort(), ['bn.beta', 'bn.gamma', 'bn.moving_mean', 'bn.moving_variance', 'hidden.bias', 'hidden.kernel', 'out.bias', 'out.kernel']);
    await assert.rejects(make(3).loadWeights(join(dir, 'a.safetensors')), /loadWeights: .*a\.safetensors does not match the model: out\.kernel float32 \[4, 2\] in the file for out\.kernel float32 \[4, 3\]; out\.bias float32 \[2\] in the file for out\.bias float32 \[3\]\.\n  file: .*\n  model: hidden\.kernel float32 \[3, 4\]/);
    await writeFile(join(dir, 'junk.safetensors'), 'not a file');
    await assert.rejects(a.loadWeights(join(dir, 'junk.safetensors')), /loadSafetensors: .*junk\.safetensors: header length/);
  });
});
