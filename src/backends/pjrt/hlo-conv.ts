// Convolutions as StableHLO `convolution` ops (one group, NHWC input, HWIO kernel), so XLA picks
// its own algorithm: the forward pass; the input gradient (the output gradient spread by the
// strides, against the spatially reversed kernel); the filter gradient (the input against the
// output gradient, batch and channels trading places, strides becoming the kernel's dilation).
import type { ConvGeometry, View } from '../backend.js';
import type { StorageValues } from './hlo-views.js';

const span = (k: number, dilation: number) => (k - 1) * dilation + 1;

export function conv2d(vals: StorageValues, x: View, w: View, out: View, g: ConvGeometry): void {
  const b = vals.b;
  const padBottom = (g.outH - 1) * g.strideH + span(g.kernelH, g.dilationH) - g.inH - g.padTop;
  const padRight = (g.outW - 1) * g.strideW + span(g.kernelW, g.dilationW) - g.inW - g.padLeft;
  const y = b.convolution(vals.view(x), vals.view(w), [g.batch, g.outH, g.outW, g.outChannels], {
    layout: '[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]', strides: [g.strideH, g.strideW],
    padding: [[g.padTop, padBottom], [g.padLeft, padRight]], lhsDilation: [1, 1], rhsDilation: [g.dilationH, g.dilationW],
  });
  vals.assign(out, y);
}

export function conv2dBackwardInput(vals: StorageValues, dy: View, w: View, dx: View, g: ConvGeometry): void {
  const b = vals.b;
  const kh = span(g.kernelH, g.dilationH), kw = span(g.kernelW, g.dilationW);
  const low = [kh - 1 - g.padTop, kw - 1 - g.padLeft];
  const high = [g.inH + kh - 1 - low[0]! - ((g.outH - 1) * g.strideH + 1), g.inW + kw - 1 - low[1]! - ((g.outW - 1) * g.strideW + 1)];
  const flipped = b.reverse(vals.view(w), [0, 1]);
  const r = b.convolution(vals.view(dy), flipped, [g.batch, g.inH, g.inW, g.channels], {
    layout: '[b, 0, 1, f]x[0, 1, o, i]->[b, 0, 1, f]', strides: [1, 1],
    padding: [[low[0]!, high[0]!], [low[1]!, high[1]!]], lhsDilation: [g.strideH, g.strideW], rhsDilation: [g.dilationH, g.dilationW],
  });
  vals.assign(dx, r);
}

export function conv2dBackwardFilter(vals: StorageValues, x: View, dy: View, dw: View, g: ConvGeometry): void {
  const b = vals.b;
  const high = [
    (g.kernelH - 1) * g.dilationH + (g.outH - 1) * g.strideH + 1 - g.inH - g.padTop,
    (g.kernelW - 1) * g.dilationW + (g.outW - 1) * g.strideW + 1 - g.inW - g.padLeft,
  ];
  const r = b.convolution(vals.view(x), vals.view(dy), [g.kernelH, g.kernelW, g.channels, g.outChannels], {
    layout: '[f, 0, 1, b]x[i, 0, 1, o]->[0, 1, b, f]', strides: [g.dilationH, g.dilationW],
    padding: [[g.padTop, high[0]!], [g.padLeft, high[1]!]], lhsDilation: [1, 1], rhsDilation: [g.strideH, g.strideW],
  });
  vals.assign(dw, r);
}
