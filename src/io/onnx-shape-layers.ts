// ONNX rules for the reshaping and sequence layers: padding, cropping, upsampling, permutation,
// repetition, and the 1-D convolution and pooling, which ONNX runs channels-first.
import { fail } from '../core/errors.js';
import type { AveragePooling1D, Conv1D, MaxPooling1D } from '../nn/layers/conv1d.js';
import type { Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D } from '../nn/layers/reshaping.js';
import type { GraphBuilder } from './onnx-graph.js';
import type { OnnxCall } from './onnx-rules.js';

/** [before, after] padding of a 1-D window, as tessera pads it. */
function pads1d(n: number, size: number, stride: number, padding: 'valid' | 'same' | 'causal', dilation: number): [number, number] {
  if (padding === 'causal') return [(size - 1) * dilation, 0];
  if (padding === 'valid') return [0, 0];
  const out = Math.ceil(n / stride);
  const total = Math.max((out - 1) * stride + (size - 1) * dilation + 1 - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Runs `body` on the value transposed to [batch, channels, steps], then back. */
function channelsFirst(g: GraphBuilder, body: () => void): void {
  g.apply('Transpose', [], [{ name: 'perm', ints: [0, 2, 1] }]);
  body();
  g.apply('Transpose', [], [{ name: 'perm', ints: [0, 2, 1] }]);
}

const rankOf = (c: OnnxCall) => c.shapes[0]!.length + 1;

export function zeroPadding2d(g: GraphBuilder, layer: ZeroPadding2D, c: OnnxCall): void {
  g.toLayout('nhwc', rankOf(c));
  const [[t, b], [l, r]] = layer.padding;
  g.apply('Pad', [g.ints(g.fresh(`${layer.name}.pads`), [0, t, l, 0, 0, b, r, 0])]);
}

export function cropping2d(g: GraphBuilder, layer: Cropping2D, c: OnnxCall): void {
  g.toLayout('nhwc', rankOf(c));
  const [[t, b], [l, r]] = layer.cropping;
  const shape = c.shapes[0]!;
  g.apply('Slice', [g.ints(g.fresh('starts'), [t, l]), g.ints(g.fresh('ends'), [shape[0]! - b, shape[1]! - r]), g.ints(g.fresh('axes'), [1, 2])]);
}

export function upSampling2d(g: GraphBuilder, layer: UpSampling2D, c: OnnxCall): void {
  // nearest with ONNX's default half-pixel coordinates picks floor(i / size) for whole scales
  g.toLayout('nchw', rankOf(c));
  g.apply('Resize', ['', g.floats(g.fresh(`${layer.name}.scales`), [4], Float32Array.of(1, 1, ...layer.size))]);
}

export function permute(g: GraphBuilder, layer: Permute, c: OnnxCall): void {
  g.toLayout('nhwc', rankOf(c));
  g.apply('Transpose', [], [{ name: 'perm', ints: [0, ...layer.dims] }]);
}

export function repeatVector(g: GraphBuilder, layer: RepeatVector): void {
  g.apply('Unsqueeze', [g.ints(g.fresh('axes'), [1])]);
  g.apply('Tile', [g.ints(g.fresh(`${layer.name}.repeats`), [1, layer.n, 1])]);
}

export function conv1d(g: GraphBuilder, layer: Conv1D, c: OnnxCall): void {
  const k = c.w.get('kernel') ?? fail('exportOnnx', `${layer.name} has no kernel`);
  const [size, cin, cout] = k.shape as [number, number, number];
  // [size, in, out] -> ONNX's [out, in, size]
  const oik = new Float32Array(k.data.length);
  for (let t = 0; t < size; t++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) oik[(o * cin + i) * size + t] = k.data[(t * cin + i) * cout + o]!;
  const inputs = [g.floats(`${layer.name}.kernel`, [cout, cin, size], oik)];
  if (layer.useBias) inputs.push(g.floats(`${layer.name}.bias`, [cout], c.w.get('bias')!.data));
  channelsFirst(g, () => g.apply('Conv', inputs, [
    { name: 'kernel_shape', ints: [size] }, { name: 'strides', ints: [layer.strides] }, { name: 'dilations', ints: [layer.dilationRate] },
    { name: 'pads', ints: pads1d(c.shapes[0]![0]!, size, layer.strides, layer.padding, layer.dilationRate) },
  ]));
  g.activation(layer.activation);
}

export function pool1d(g: GraphBuilder, layer: MaxPooling1D | AveragePooling1D, c: OnnxCall, op: 'MaxPool' | 'AveragePool'): void {
  channelsFirst(g, () => g.apply(op, [], [
    { name: 'kernel_shape', ints: [layer.poolSize] }, { name: 'strides', ints: [layer.strides] },
    { name: 'pads', ints: pads1d(c.shapes[0]![0]!, layer.poolSize, layer.strides, layer.padding, 1) },
  ]));
}
