// Output sizes and padding of 2-D windows (convolution, pooling), TensorFlow's conventions.
import { fail, shapeStr } from '../core/errors.js';
import type { WindowGeometry } from '../backends/backend.js';

export type Padding = 'valid' | 'same' | number | readonly [[number, number], [number, number]];
export type Pair = number | readonly [number, number];

export function pair(op: string, name: string, v: Pair): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x) && x >= 1)) fail(op, `${name} must be positive integers, got ${JSON.stringify(v)}`);
  return p;
}

/** Window geometry over NHWC input `xShape` for a kernel of kh x kw. */
export function windowGeometry(op: string, xShape: readonly number[], kh: number, kw: number, strides: Pair, padding: Padding, dilations: Pair = 1): WindowGeometry {
  if (xShape.length !== 4) fail(op, `expected NHWC input of rank 4, got shape ${shapeStr(xShape)}`);
  const [batch, inH, inW, channels] = xShape as [number, number, number, number];
  const [sh, sw] = pair(op, 'strides', strides);
  const [dh, dw] = pair(op, 'dilations', dilations);
  const effH = (kh - 1) * dh + 1, effW = (kw - 1) * dw + 1;
  let padTop: number, padLeft: number, outH: number, outW: number;
  if (padding === 'same') {
    outH = Math.ceil(inH / sh);
    outW = Math.ceil(inW / sw);
    padTop = Math.floor(Math.max((outH - 1) * sh + effH - inH, 0) / 2);
    padLeft = Math.floor(Math.max((outW - 1) * sw + effW - inW, 0) / 2);
  } else {
    const [[pt, pb], [pl, pr]] = padding === 'valid' ? [[0, 0], [0, 0]] : typeof padding === 'number' ? [[padding, padding], [padding, padding]] : padding;
    if (![pt, pb, pl, pr].every((x) => Number.isInteger(x) && x >= 0)) fail(op, `padding must be 'same', 'valid' or non-negative integers, got ${JSON.stringify(padding)}`);
    padTop = pt;
    padLeft = pl;
    outH = Math.floor((inH + pt + pb - effH) / sh) + 1;
    outW = Math.floor((inW + pl + pr - effW) / sw) + 1;
  }
  if (outH <= 0 || outW <= 0) {
    fail(op, `the window (${kh}x${kw}, dilation ${dh}x${dw}) is larger than the padded input ${shapeStr(xShape)}; output would be ${outH}x${outW}`);
  }
  return { batch, inH, inW, channels, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padTop, padLeft, dilationH: dh, dilationW: dw, outH, outW };
}
