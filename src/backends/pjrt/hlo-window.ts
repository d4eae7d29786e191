// 2-D windows over NHWC in StableHLO: every tap of every window as one index tensor
// [B, outH, outW, kernelH, kernelW, C], so im2col is a gather, col2im a scatter-add, and
// pooling a gather reduced over the taps. Padding taps are masked, as the CPU skips them.
import type { View, WindowGeometry } from '../backend.js';
import type { Value } from './hlo-builder.js';
import type { StorageValues } from './hlo-views.js';

interface Taps {
  readonly shape: number[];
  /** inside the (unpadded) input */
  readonly valid: Value;
  /** each tap's element in an NHWC layout of these strides (an in-range placeholder where not valid) */
  index(strides: readonly number[], offset: number): Value;
}

/** Pooling has no dilation; convolutions do. */
function taps(vals: StorageValues, g: WindowGeometry, dilated: boolean): Taps {
  const b = vals.b;
  const shape = [g.batch, g.outH, g.outW, g.kernelH, g.kernelW, g.channels];
  const c = (v: number) => b.constant(v, shape, 'i32');
  const axis = (k: number, scale: number) => b.map('multiply', [b.iota(shape, k), c(scale)]);
  const ih = b.map('add', [axis(1, g.strideH), b.map('add', [axis(3, dilated ? g.dilationH : 1), c(-g.padTop)])]);
  const iw = b.map('add', [axis(2, g.strideW), b.map('add', [axis(4, dilated ? g.dilationW : 1), c(-g.padLeft)])]);
  const inRange = (v: Value, n: number) => b.map('and', [b.compare('GE', v, c(0)), b.compare('LT', v, c(n))]);
  const valid = b.map('and', [inRange(ih, g.inH), inRange(iw, g.inW)]);
  return {
    shape, valid,
    index([sn, sh, sw, sc], offset) {
      let index = b.map('add', [axis(0, sn!), b.map('add', [b.map('multiply', [ih, c(sh!)]), b.map('multiply', [iw, c(sw!)])])]);
      index = b.map('add', [index, b.map('add', [axis(5, sc!), c(offset)])]);
      return b.select(valid, index, c(offset));
    },
  };
}

/** Strides of a contiguous NHWC input (where max pooling's recorded indices point). */
const denseStrides = (g: WindowGeometry) => [g.inH * g.inW * g.channels, g.inW * g.channels, g.channels, 1];

export function im2col(vals: StorageValues, x: View, out: View, g: WindowGeometry): void {
  const b = vals.b;
  const t = taps(vals, g, true);
  const picked = b.gatherFlat(vals.read(x.storage), t.index(x.strides, x.offset));
  vals.assign(out, b.reshape(b.select(t.valid, picked, b.constant(0, t.shape, picked.type)), out.shape));
}

export function col2im(vals: StorageValues, cols: View, out: View, g: WindowGeometry): void {
  const b = vals.b;
  const t = taps(vals, g, true);
  const v = b.reshape(vals.view(cols), t.shape);
  const masked = b.select(t.valid, v, b.constant(0, t.shape, v.type));
  vals.set(out.storage, b.scatterFlat(vals.read(out.storage), t.index(out.strides, out.offset), masked, 'add'));
}

export function pool2d(vals: StorageValues, kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void {
  const b = vals.b;
  const t = taps(vals, g, false);
  const grouped = [g.batch, g.outH, g.outW, g.kernelH * g.kernelW, g.channels];
  const picked = b.gatherFlat(vals.read(x.storage), t.index(x.strides, x.offset));
  const fill = b.constant(kind === 'max' ? -Infinity : 0, t.shape, 'f32');
  const v = b.reshape(b.select(t.valid, picked, fill), grouped);
  if (kind === 'avg') {
    const count = b.reduce(b.reshape(b.convert(t.valid, 'f32'), grouped), 0, [3], 'add');
    const sum = b.reduce(v, 0, [3], 'add');
    const zero = b.constant(0, count.shape, 'f32');
    vals.assign(out, b.reshape(b.select(b.compare('GT', count, zero), b.map('divide', [sum, count]), zero), out.shape));
    return;
  }
  const best = b.reduce(v, -Infinity, [3], 'maximum');
  vals.assign(out, b.reshape(best, out.shape));
  if (!argmax) return;
  // the first tap holding the maximum (the first NaN, where there is one), as the CPU takes it
  const spread = b.broadcast(best, grouped, [0, 1, 2, 4]);
  const hit = b.map('and', [b.reshape(t.valid, grouped), b.map('or', [b.compare('EQ', v, spread), b.compare('NE', v, v)])]);
  const none = 2 ** 31 - 1;
  const where = b.reduce(b.select(hit, b.reshape(t.index(denseStrides(g), 0), grouped), b.constant(none, grouped, 'i32')), none, [3], 'minimum');
  const found = b.select(b.compare('EQ', where, b.constant(none, where.shape, 'i32')), b.constant(-1, where.shape, 'i32'), where);
  vals.assign(argmax, b.reshape(found, argmax.shape));
}

export function pool2dBackward(vals: StorageValues, kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
  const b = vals.b;
  const inSize = g.batch * g.inH * g.inW * g.channels;
  const zeros = b.constant(0, [inSize], 'f32');
  const outShape = [g.batch, g.outH, g.outW, g.channels];
  const grad = b.reshape(vals.view(gradOut), outShape);
  let summed: Value;
  if (kind === 'max') {
    const src = b.reshape(vals.view(argmax!), outShape);
    const ok = b.compare('GE', src, b.constant(0, outShape, 'i32'));
    summed = b.scatterFlat(zeros, b.select(ok, src, b.constant(0, outShape, 'i32')), b.select(ok, grad, b.constant(0, outShape, 'f32')), 'add');
  } else {
    const t = taps(vals, g, false);
    const grouped = [g.batch, g.outH, g.outW, g.kernelH * g.kernelW, g.channels];
    const count = b.reduce(b.reshape(b.convert(t.valid, 'f32'), grouped), 0, [3], 'add');
    const share = b.map('divide', [grad, b.map('maximum', [count, b.constant(1, outShape, 'f32')])]);
    const spread = b.broadcast(share, t.shape, [0, 1, 2, 5]);
    summed = b.scatterFlat(zeros, t.index(denseStrides(g), 0), b.select(t.valid, spread, b.constant(0, t.shape, 'f32')), 'add');
  }
  vals.assign(gradIn, b.reshape(summed, gradIn.shape));
}
