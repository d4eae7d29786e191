// conv2d (strides, padding, dilation, groups) and pooling against direct-loop references.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { Rng, checkOp, testDevices } from '../helpers/check.js';
import { conv2d, pool, windowRef } from '../helpers/reference.js';

interface ConvCase { x: number[]; w: number[]; strides: [number, number]; padding: 'same' | 'valid'; dilations?: [number, number]; groups?: number }

const CONV: ConvCase[] = [
  { x: [2, 5, 5, 3], w: [3, 3, 3, 4], strides: [1, 1], padding: 'valid' },
  { x: [1, 6, 7, 2], w: [3, 3, 2, 3], strides: [1, 1], padding: 'same' },
  { x: [2, 7, 6, 2], w: [3, 2, 2, 2], strides: [2, 3], padding: 'same' },
  { x: [1, 7, 7, 1], w: [2, 2, 1, 2], strides: [1, 1], padding: 'valid', dilations: [2, 3] },
  { x: [1, 5, 5, 4], w: [3, 3, 2, 6], strides: [1, 1], padding: 'same', groups: 2 },
  { x: [2, 4, 4, 3], w: [1, 1, 3, 5], strides: [1, 1], padding: 'valid' },
  { x: [1, 1, 1, 1], w: [1, 1, 1, 1], strides: [1, 1], padding: 'valid' },
  // channels in fours: the bulk-copy im2col and the SIMD col2im
  { x: [1, 5, 6, 8], w: [3, 3, 8, 3], strides: [2, 2], padding: 'same' },
  { x: [2, 4, 5, 4], w: [3, 2, 4, 2], strides: [1, 1], padding: 'same', dilations: [1, 2] },
  { x: [1, 4, 4, 16], w: [3, 3, 8, 4], strides: [1, 1], padding: 'same', groups: 2 },
];

for (const device of testDevices()) {
  describe(`conv2d and pooling on ${device}`, () => {
    const rng = new Rng(41);
    for (const c of CONV) {
      it(`conv2d x${JSON.stringify(c.x)} w${JSON.stringify(c.w)} s${c.strides} ${c.padding} d${c.dilations ?? [1, 1]} g${c.groups ?? 1}`, async () => {
        const g = windowRef(c.x[1]!, c.x[2]!, c.w[0]!, c.w[1]!, c.strides, c.padding, c.dilations);
        await checkOp(device, {
          name: 'conv2d', inputs: [rng.arr(c.x), rng.arr(c.w)],
          run: (x, w) => tsr.conv2d(x, w, { strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups }),
          reference: (x, w) => conv2d(x, w, g, c.groups),
        });
      });
    }
    it('conv2d on a non-contiguous input', async () => {
      const g = windowRef(4, 5, 3, 3, [1, 1], 'same');
      await checkOp(device, {
        name: 'conv2d of permuted input', inputs: [rng.arr([1, 5, 4, 2]), rng.arr([3, 3, 2, 2])],
        run: (x, w) => tsr.conv2d(x.permute([0, 2, 1, 3]), w, { padding: 'same' }),
        reference: (x, w) => conv2d(permuteNHWC(x), w, g),
      });
    });
    for (const kind of ['max', 'avg'] as const) {
      for (const [shape, size, strides, padding] of [[[2, 4, 4, 3], 2, 2, 'valid'], [[1, 5, 7, 2], 3, 2, 'same'], [[1, 5, 5, 1], 2, 1, 'valid'], [[2, 6, 6, 8], 2, 2, 'valid'], [[1, 5, 6, 4], 3, 2, 'same'], [[1, 4, 5, 4], 3, 1, 'same']] as const) {
        it(`${kind}Pool2d ${JSON.stringify(shape)} size ${size} stride ${strides} ${padding}`, async () => {
          const g = windowRef(shape[1], shape[2], size, size, [strides, strides], padding);
          const run = kind === 'max' ? tsr.maxPool2d : tsr.avgPool2d;
          await checkOp(device, {
            name: `${kind}Pool2d`, inputs: [rng.arr([...shape])],
            run: (x) => run(x, { poolSize: size, strides, padding }), reference: (x) => pool(kind, x, g),
          });
        });
      }
    }
    it('errors name the op and shapes', () => {
      const x = tsr.zeros([1, 4, 4, 3], { device });
      assert.throws(() => tsr.conv2d(x, tsr.zeros([3, 3, 2, 4], { device })), /conv2d: kernel \[3, 3, 2, 4\] expects 2 input channels, input \[1, 4, 4, 3\] has 3/);
      assert.throws(() => tsr.conv2d(tsr.zeros([4, 4, 3], { device }), tsr.zeros([3, 3, 3, 4], { device })), /conv2d: expected NHWC input of rank 4, got shape \[4, 4, 3\]/);
      assert.throws(() => tsr.conv2d(x, tsr.zeros([5, 5, 3, 1], { device })), /conv2d: the window .* is larger than the padded input/);
      assert.throws(() => tsr.maxPool2d(x, { poolSize: 0 }), /maxPool2d: poolSize must be positive integers/);
    });
  });
}

import { Arr, ravel, unravel } from '../helpers/reference.js';
function permuteNHWC(x: Arr): Arr {
  const [n, a, b, c] = x.shape as [number, number, number, number];
  const shape = [n, b, a, c];
  return Arr.of(shape, (i) => { const [p, q, r, s] = unravel(i, shape) as [number, number, number, number]; return x.data[ravel([p, r, q, s], x.shape)]!; });
}
