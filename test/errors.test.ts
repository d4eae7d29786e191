// Bad input: every rejection names the op and what was expected; nothing crashes or turns to NaN.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../src/index.js';
import { testDevices } from './helpers/check.js';

for (const device of testDevices()) {
  describe(`bad input on ${device}`, () => {
    const a = tsr.zeros([2, 3], { device });
    it('shape mismatches name the op and both shapes', () => {
      assert.throws(() => tsr.add(a, tsr.zeros([4], { device })), /add: shapes \[2, 3\] and \[4\] cannot be broadcast together \(dimension 1: 3 vs 4\)/);
      assert.throws(() => a.reshape([4, 2]), /reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\] \(8 elements\)/);
      assert.throws(() => tsr.concat([a, tsr.zeros([2, 2, 1], { device })]), /concat: shapes \[2, 3\], \[2, 2, 1\] differ/);
      assert.throws(() => a.expand([4, 3]), /expand: .*cannot be broadcast/);
    });
    it('dtype errors say what to cast', () => {
      assert.throws(() => tsr.matmul(a, tsr.zeros([3, 2], { device, dtype: 'int32' })), /matmul: expected two float32, float16 or bfloat16 operands of one dtype, got float32 \[2, 3\] and int32 \[3, 2\]; cast them first/);
      assert.throws(() => tsr.softmax(tsr.zeros([2], { device, dtype: 'int32' })), /softmax: expected float32 input, got int32/);
      assert.throws(() => tsr.cast(a, 'float64' as tsr.DType), /cast: unknown dtype 'float64' \(expected float32, int32, bool, float16 or bfloat16\)/);
    });
    it('axes and indices out of range', () => {
      assert.throws(() => tsr.sum(a, 2), /sum: axis 2 is out of range for a tensor of rank 2 \(expected -2\.\.1\)/);
      assert.throws(() => tsr.sum(a, [0, -2]), /sum: repeated axis/);
      assert.throws(() => a.permute([0, 0]), /permute: \[0, 0\] is not a permutation/);
      assert.throws(() => tsr.argmax(tsr.zeros([0], { device })), /argmax: cannot take argmax over an empty axis/);
      assert.throws(() => tsr.max(tsr.zeros([2, 0], { device }), 1), /max: cannot reduce over an empty axis/);
    });
    it('errors leave no half-made tensors behind', () => {
      const before = tsr.memory().numTensors;
      assert.throws(() => tsr.tidy(() => tsr.matmul(a.add(1), tsr.zeros([5, 5], { device }))));
      assert.equal(tsr.memory().numTensors, before);
    });
  });
}

describe('devices', () => {
  it('asking for a device that does not exist is a clear error', () => {
    assert.throws(() => tsr.zeros([1], { device: 'nonesuch' }), /device: unknown or unavailable device 'nonesuch' \(available: cpu/);
    // before initDevices cuda is simply unknown; after it, unavailable with the reason
    if (!tsr.availableDevices().includes('cuda')) assert.throws(() => tsr.setDefaultDevice('cuda'), /(unknown or unavailable device 'cuda'|device 'cuda' is unavailable: )/);
  });
});
