// ONNX rules for the reshaping and sequence layers: padding, cropping, upsampling, permutation,
// repetition, global pooling, and the 1-D convolution and pooling, which ONNX runs channels-first.
import { fail } from '../core/errors.js';
import type { Layer } from '../nn/layer.js';
import { AveragePooling1D, Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D } from '../nn/layers/conv1d.js';
import { Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D } from '../nn/layers/reshaping.js';
import type { GraphBuilder } from './onnx-export.js';

export const SHAPE_LAYERS = 'ZeroPadding2D, Cropping2D, UpSampling2D, Permute, RepeatVector, GlobalMaxPooling2D, GlobalMaxPooling1D, GlobalAveragePooling1D, Conv1D, MaxPooling1D, AveragePooling1D';

type Weights = Map<string, { shape: number[]; data: Float32Array }>;

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

/** Emits `layer` if it is one of these; false otherwise. `shape` is its per-sample input shape. */
export function emitShapeLayer(g: GraphBuilder, layer: Layer, shape: readonly number[], w: Weights): boolean {
  const rank = shape.length + 1;
  if (layer instanceof ZeroPadding2D) {
    g.toLayout('nhwc', rank);
    const [[t, b], [l, r]] = layer.padding;
    g.apply('Pad', [g.ints(g.fresh(`${layer.name}.pads`), [0, t, l, 0, 0, b, r, 0])]);
  } else if (layer instanceof Cropping2D) {
    g.toLayout('nhwc', rank);
    const [[t, b], [l, r]] = layer.cropping;
    g.apply('Slice', [g.ints(g.fresh('starts'), [t, l]), g.ints(g.fresh('ends'), [shape[0]! - b, shape[1]! - r]), g.ints(g.fresh('axes'), [1, 2])]);
  } else if (layer instanceof UpSampling2D) {
    // nearest with ONNX's default half-pixel coordinates picks floor(i / size) for whole scales
    g.toLayout('nchw', rank);
    g.apply('Resize', ['', g.floats(g.fresh(`${layer.name}.scales`), [4], Float32Array.of(1, 1, ...layer.size))]);
  } else if (layer instanceof Permute) {
    g.toLayout('nhwc', rank);
    g.apply('Transpose', [], [{ name: 'perm', ints: [0, ...layer.dims] }]);
  } else if (layer instanceof RepeatVector) {
    g.apply('Unsqueeze', [g.ints(g.fresh('axes'), [1])]);
    g.apply('Tile', [g.ints(g.fresh(`${layer.name}.repeats`), [1, layer.n, 1])]);
  } else if (layer instanceof GlobalMaxPooling2D) {
    g.toLayout('nchw', rank);
    g.apply('GlobalMaxPool');
    g.apply('Flatten', [], [{ name: 'axis', i: 1 }]);
    g.layout = 'nhwc';
  } else if (layer instanceof GlobalMaxPooling1D || layer instanceof GlobalAveragePooling1D) {
    g.apply(layer instanceof GlobalMaxPooling1D ? 'ReduceMax' : 'ReduceMean', [], [{ name: 'axes', ints: [1] }, { name: 'keepdims', i: 0 }]);
  } else if (layer instanceof Conv1D) {
    const k = w.get('kernel') ?? fail('exportOnnx', `${layer.name} has no kernel`);
    const [size, cin, cout] = k.shape as [number, number, number];
    // [size, in, out] -> ONNX's [out, in, size]
    const oik = new Float32Array(k.data.length);
    for (let t = 0; t < size; t++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) oik[(o * cin + i) * size + t] = k.data[(t * cin + i) * cout + o]!;
    const inputs = [g.floats(`${layer.name}.kernel`, [cout, cin, size], oik)];
    if (layer.useBias) inputs.push(g.floats(`${layer.name}.bias`, [cout], w.get('bias')!.data));
    channelsFirst(g, () => g.apply('Conv', inputs, [
      { name: 'kernel_shape', ints: [size] }, { name: 'strides', ints: [layer.strides] }, { name: 'dilations', ints: [layer.dilationRate] },
      { name: 'pads', ints: pads1d(shape[0]!, size, layer.strides, layer.padding, layer.dilationRate) },
    ]));
    g.activation(layer.activation);
  } else if (layer instanceof MaxPooling1D || layer instanceof AveragePooling1D) {
    channelsFirst(g, () => g.apply(layer instanceof MaxPooling1D ? 'MaxPool' : 'AveragePool', [], [
      { name: 'kernel_shape', ints: [layer.poolSize] }, { name: 'strides', ints: [layer.strides] },
      { name: 'pads', ints: pads1d(shape[0]!, layer.poolSize, layer.strides, layer.padding, 1) },
    ]));
  } else {
    return false;
  }
  return true;
}
