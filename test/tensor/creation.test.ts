// Creating and reading tensors; the seeded counter-based generator.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { philoxBlock } from '../../src/core/philox.js';
import { hostReadable, scalar, testDevices } from '../helpers/check.js';

describe('Philox 4x32-10', () => {
  it('matches the published known-answer vectors', () => {
    // Random123's kat_vectors for philox4x32_10
    const out = new Uint32Array(4);
    // the known-answer vectors set all four counter words; philoxRaw runs the rounds on them
    const block = philoxRaw;
    assert.deepEqual(block([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    assert.deepEqual(block([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    assert.deepEqual(block([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]), [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
    philoxBlock(0, 0, 0, out);
    assert.deepEqual([...out], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    // a 64-bit counter fills the low two words
    philoxBlock(0xa4093822, 0x299f31d0, 5 * 2 ** 32 + 77, out);
    assert.deepEqual([...out], philoxRaw([77, 5, 0, 0], [0xa4093822, 0x299f31d0]));
  });
});

/** Philox rounds with all four counter words free (philoxBlock fixes the upper two to 0). */
function philoxRaw(c: number[], k: number[]): number[] {
  const mulhilo = (a: number, b: number) => { const p = BigInt(a) * BigInt(b); return [Number(p >> 32n), Number(p & 0xffffffffn)]; };
  let [c0, c1, c2, c3] = c as [number, number, number, number];
  let [k0, k1] = k as [number, number];
  for (let r = 0; r < 10; r++) {
    const [hi0, lo0] = mulhilo(0xd2511f53, c0), [hi1, lo1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1! ^ c1 ^ k0) >>> 0, lo1!, (hi0! ^ c3 ^ k1) >>> 0, lo0!];
    k0 = (k0 + 0x9e3779b9) >>> 0; k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

for (const device of testDevices()) {
  describe(`creation on ${device}`, () => {
    it('tensor from nested arrays, typed arrays and scalars', async () => {
      const t = tsr.tensor([[1, 2, 3], [4, 5, 6]], { device });
      assert.deepEqual(t.shape, [2, 3]);
      assert.equal(t.dtype, 'float32');
      assert.equal(t.size, 6);
      assert.equal(t.device, device);
      assert.deepEqual(await t.array(), [[1, 2, 3], [4, 5, 6]]);
      assert.equal(tsr.tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2], device }).dtype, 'int32');
      assert.deepEqual(await tsr.tensor([true, false], { device }).array(), [true, false]);
      assert.equal(await scalar(tsr.tensor(3.5, { device })), 3.5);
      assert.deepEqual(tsr.tensor(3.5, { device }).shape, []);
      // values print where memory is host-visible; GPU tensors print their metadata only
      assert.match(t.toString(), hostReadable(device) ? new RegExp(`^Tensor\\(\\[\\[1, 2, 3\\], \\[4, 5, 6\\]\\], shape=\\[2, 3\\], dtype=float32, device=${device}`) : new RegExp(`^Tensor\\(<on device; await data\\(\\)>, shape=\\[2, 3\\], dtype=float32, device=${device}`));
    });
    it('rejects ragged arrays, wrong sizes and unknown dtypes', () => {
      assert.throws(() => tsr.tensor([[1, 2], [3]], { device }), /tensor: ragged nested array/);
      assert.throws(() => tsr.tensor([1, 2, 3], { shape: [2, 2], device }), /tensor: 3 values do not fill shape \[2, 2\]/);
      assert.throws(() => tsr.tensor([1], { dtype: 'float64' as tsr.DType, device }), /unknown dtype 'float64'/);
      assert.throws(() => tsr.zeros([2, -1], { device }), /zeros: invalid shape \[2, -1\]/);
    });
    it('zeros, ones, full, arange, linspace, eye', async () => {
      assert.deepEqual(await tsr.zeros([2], { device }).array(), [0, 0]);
      assert.deepEqual(await tsr.ones([1, 2], { device, dtype: 'int32' }).array(), [[1, 1]]);
      assert.deepEqual(await tsr.full([2], 7, { device }).array(), [7, 7]);
      assert.deepEqual(await tsr.arange(5, undefined, 1, { device }).array(), [0, 1, 2, 3, 4]);
      assert.equal(tsr.arange(5, undefined, 1, { device }).dtype, 'int32');
      assert.deepEqual(await tsr.arange(1, 2, 0.25, { device }).array(), [1, 1.25, 1.5, 1.75]);
      assert.deepEqual(await tsr.arange(5, 0, -2, { device }).array(), [5, 3, 1]);
      assert.deepEqual(await tsr.linspace(0, 1, 5, { device }).array(), [0, 0.25, 0.5, 0.75, 1]);
      assert.deepEqual(await tsr.eye(2, 3, { device }).array(), [[1, 0, 0], [0, 1, 0]]);
      assert.deepEqual(tsr.zeros([0, 3], { device }).shape, [0, 3]);
    });
    it('seeded random draws are reproducible and distributed as claimed', async () => {
      const a = Array.from(await tsr.rand([10000], { seed: 42, device }).data());
      const b = Array.from(await tsr.rand([10000], { seed: 42, device }).data());
      assert.deepEqual(a, b);
      const mean = a.reduce((s, v) => s + v, 0) / a.length;
      assert.ok(Math.abs(mean - 0.5) < 0.01 && Math.min(...a) >= 0 && Math.max(...a) < 1);
      const n = Array.from(await tsr.randn([20000], { seed: 1, device }).data());
      const m = n.reduce((s, v) => s + v, 0) / n.length;
      const v = n.reduce((s, x) => s + (x - m) ** 2, 0) / n.length;
      assert.ok(Math.abs(m) < 0.03 && Math.abs(v - 1) < 0.03, `mean ${m} var ${v}`);
      const r = Array.from(await tsr.randint(3, 7, [5000], { seed: 2, device }).data());
      assert.deepEqual([...new Set(r)].sort(), [3, 4, 5, 6]);
      assert.notDeepEqual(await tsr.rand([8], { device }).data(), await tsr.rand([8], { device }).data());
    });
    it('random numbers do not depend on the shape they are drawn in', async () => {
      const flat = await tsr.randn([12], { seed: 5, device }).data();
      const grid = await tsr.randn([3, 4], { seed: 5, device }).data();
      assert.deepEqual(flat, grid);
    });
    it('rejects non-finite or negative seeds', () => {
      assert.throws(() => tsr.rand([2], { seed: NaN, device }), /rand: seed must be a non-negative integer, got NaN/);
      assert.throws(() => tsr.randn([2], { seed: Infinity, device }), /randn: seed must be a non-negative integer/);
      assert.throws(() => tsr.setSeed(-1), /setSeed: seed must be a non-negative integer/);
    });
  });
}
