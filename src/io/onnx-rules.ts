// How each built-in layer becomes ONNX nodes: one rule per entry of the layer table
// (nn/registry.ts), so a layer added there without a rule here fails to compile.
import { fail } from '../core/errors.js';
import { windowGeometry } from '../ops/window-geometry.js';
import type { Layer } from '../nn/layer.js';
import { LAYERS, type LayerName } from '../nn/registry.js';
import type { GraphBuilder, Value, Weights } from './onnx-graph.js';
import * as shapes from './onnx-shape-layers.js';
import * as merges from './onnx-merge.js';
import * as sequences from './onnx-sequence.js';

/** What a rule sees of one call: its inputs (the first is the builder's current value) and their per-sample shapes. */
export interface OnnxCall {
  readonly inputs: readonly Value[];
  readonly shapes: readonly (readonly number[])[];
  readonly w: Weights;
  /** Emits another layer (a wrapper's inner one) on the current value. */
  emit(layer: Layer, shape: readonly number[]): Promise<void>;
}

/** Emits a call; a layer of several outputs returns them (the first is also the current value). */
export type OnnxRule<L> = (g: GraphBuilder, layer: L, call: OnnxCall) => void | Value[] | Promise<void | Value[]>;

type Rules = { readonly [K in LayerName]: OnnxRule<InstanceType<(typeof LAYERS)[K]>> };

/** [kh, kw, cin, cout] (tessera) to [cout, cin, kh, kw] (ONNX). */
function hwioToOihw(k: Float32Array, [kh, kw, cin, cout]: number[]): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh!; y++) for (let x = 0; x < kw!; x++) for (let i = 0; i < cin!; i++) for (let o = 0; o < cout!; o++) {
    out[((o * cin! + i) * kh! + y) * kw! + x] = k[((y * kw! + x) * cin! + i) * cout! + o]!;
  }
  return out;
}

/** ONNX pads [top, left, bottom, right] for a window over a per-sample NHWC shape. */
function pads(op: string, shape: readonly number[], kh: number, kw: number, strides: number | readonly [number, number], padding: 'valid' | 'same', dilation: number | readonly [number, number] = 1): number[] {
  const g = windowGeometry(op, [1, ...shape], kh, kw, strides, padding, dilation);
  const bottom = Math.max(0, (g.outH - 1) * g.strideH + (kh - 1) * g.dilationH + 1 - g.inH - g.padTop);
  const right = Math.max(0, (g.outW - 1) * g.strideW + (kw - 1) * g.dilationW + 1 - g.inW - g.padLeft);
  return [g.padTop, g.padLeft, bottom, right];
}

const pair = (v: number | readonly [number, number]) => (typeof v === 'number' ? [v, v] : [...v]);
const rankOf = (c: OnnxCall) => c.shapes[0]!.length + 1;
const param = (g: GraphBuilder, layer: Layer, c: OnnxCall, key: string) => g.floats(`${layer.name}.${key}`, c.w.get(key)!.shape, c.w.get(key)!.data);
const identity = () => {};

/** gamma and beta, or ones and zeros where the layer has none (center or scale off). */
function scaleAndShift(g: GraphBuilder, layer: Layer, c: OnnxCall): [string, string] {
  const n = c.shapes[0]!.at(-1)!;
  const scale = c.w.has('gamma') ? param(g, layer, c, 'gamma') : g.floats(`${layer.name}.gamma`, [n], new Float32Array(n).fill(1));
  const shift = c.w.has('beta') ? param(g, layer, c, 'beta') : g.floats(`${layer.name}.beta`, [n], new Float32Array(n));
  return [scale, shift];
}

export const ONNX_RULES: Rules = {
  dense: (g, layer, c) => {
    g.toLayout('nhwc', rankOf(c));
    g.apply('MatMul', [param(g, layer, c, 'kernel')]);
    if (layer.useBias) g.apply('Add', [param(g, layer, c, 'bias')]);
    g.activation(layer.activation);
  },
  conv2d: (g, layer, c) => {
    g.toLayout('nchw', rankOf(c));
    const k = c.w.get('kernel')!;
    const [kh, kw, cinPerGroup, cout] = k.shape as [number, number, number, number];
    const inputs = [g.floats(`${layer.name}.kernel`, [cout, cinPerGroup, kh, kw], hwioToOihw(k.data, k.shape))];
    if (layer.useBias) inputs.push(param(g, layer, c, 'bias'));
    g.apply('Conv', inputs, [
      { name: 'kernel_shape', ints: [kh, kw] }, { name: 'strides', ints: pair(layer.strides) }, { name: 'dilations', ints: pair(layer.dilationRate) },
      { name: 'group', i: layer.groups }, { name: 'pads', ints: pads(layer.name, c.shapes[0]!, kh, kw, layer.strides, layer.padding, layer.dilationRate) },
    ]);
    // softmax normalises the channels, the last axis in tessera's layout
    if (layer.activation === 'softmax') g.toLayout('nhwc', rankOf(c));
    g.activation(layer.activation);
  },
  depthwiseConv2d: (g, layer, c) => {
    depthwiseConv(g, layer, c, c.w.get('depthwise_kernel')!, c.w.get('bias'));
    g.activation(layer.activation);
  },
  separableConv2d: (g, layer, c) => {
    depthwiseConv(g, layer, c, c.w.get('depthwise_kernel')!, undefined);
    const p = c.w.get('pointwise_kernel')!;
    const [, , cm, filters] = p.shape as [number, number, number, number];
    g.apply('Conv', [g.floats(`${layer.name}.pointwise_kernel`, [filters, cm, 1, 1], hwioToOihw(p.data, p.shape)), ...(layer.useBias ? [param(g, layer, c, 'bias')] : [])], [{ name: 'kernel_shape', ints: [1, 1] }]);
    if (layer.activation === 'softmax') g.toLayout('nhwc', rankOf(c));
    g.activation(layer.activation);
  },
  conv2dTranspose: (g, layer, c) => {
    g.toLayout('nchw', rankOf(c));
    const k = c.w.get('kernel')!;
    const [kh, kw, cout, cin] = k.shape as [number, number, number, number];
    // [KH, KW, Cout, Cin] -> ONNX's [Cin, Cout, KH, KW]
    const w = new Float32Array(k.data.length);
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) w[((i * cout + o) * kh + y) * kw + x] = k.data[((y * kw + x) * cout + o) * cin + i]!;
    const [s, d] = [pair(layer.strides), pair(layer.dilationRate)];
    const out = layer.computeOutputShape(c.shapes[0]!);
    // the convolution of the output back to the input: its padding, and what a kernel smaller than the stride leaves over
    const conv = windowGeometry(layer.name, [1, ...out], kh, kw, layer.strides, layer.padding, layer.dilationRate);
    const total = [0, 1].map((i) => (layer.padding === 'same' ? ([kh, kw][i]! - 1) * d[i]! + 1 - s[i]! : 0));
    const begin = [conv.padTop, conv.padLeft];
    g.apply('ConvTranspose', [g.floats(`${layer.name}.kernel`, [cin, cout, kh, kw], w), ...(layer.useBias ? [param(g, layer, c, 'bias')] : [])], [
      { name: 'kernel_shape', ints: [kh, kw] }, { name: 'strides', ints: s }, { name: 'dilations', ints: d },
      { name: 'pads', ints: [...begin.map((b, i) => (total[i]! >= 0 ? b : 0)), ...total.map((t, i) => (t >= 0 ? t - begin[i]! : 0))] },
      { name: 'output_padding', ints: total.map((t) => Math.max(0, -t)) },
    ]);
    if (layer.activation === 'softmax') g.toLayout('nhwc', rankOf(c));
    g.activation(layer.activation);
  },
  maxPooling2d: (g, layer, c) => pool2d(g, layer, c, 'MaxPool'),
  averagePooling2d: (g, layer, c) => pool2d(g, layer, c, 'AveragePool'),
  globalAveragePooling2d: (g, _layer, c) => globalPool2d(g, c, 'GlobalAveragePool'),
  globalMaxPooling2d: (g, _layer, c) => globalPool2d(g, c, 'GlobalMaxPool'),
  conv1d: shapes.conv1d,
  maxPooling1d: (g, layer, c) => shapes.pool1d(g, layer, c, 'MaxPool'),
  averagePooling1d: (g, layer, c) => shapes.pool1d(g, layer, c, 'AveragePool'),
  globalMaxPooling1d: (g) => g.apply('ReduceMax', [], [{ name: 'axes', ints: [1] }, { name: 'keepdims', i: 0 }]),
  globalAveragePooling1d: (g) => g.apply('ReduceMean', [], [{ name: 'axes', ints: [1] }, { name: 'keepdims', i: 0 }]),
  flatten: (g, _layer, c) => {
    g.toLayout('nhwc', rankOf(c));
    g.apply('Flatten', [], [{ name: 'axis', i: 1 }]);
  },
  reshape: (g, layer, c) => {
    g.toLayout('nhwc', rankOf(c));
    g.apply('Reshape', [g.ints(g.fresh(`${layer.name}.shape`), [0, ...layer.targetShape])]);
    g.layout = 'nhwc';
  },
  permute: shapes.permute,
  repeatVector: shapes.repeatVector,
  zeroPadding2d: shapes.zeroPadding2d,
  cropping2d: shapes.cropping2d,
  upSampling2d: shapes.upSampling2d,
  activation: (g, layer, c) => {
    if (layer.activation === 'softmax') g.toLayout('nhwc', rankOf(c));
    g.activation(layer.activation);
  },
  softmax: (g, layer, c) => {
    g.toLayout('nhwc', rankOf(c));
    g.apply('Softmax', [], [{ name: 'axis', i: layer.axis }]);
  },
  leakyReLU: (g, layer) => g.apply('LeakyRelu', [], [{ name: 'alpha', f: layer.alpha }]),
  prelu: (g, layer, c) => {
    // the slope [per-sample shape] broadcasts over the batch in tessera's layout
    g.toLayout('nhwc', rankOf(c));
    g.apply('PRelu', [param(g, layer, c, 'alpha')]);
  },
  // identity at inference
  dropout: identity, spatialDropout1d: identity, spatialDropout2d: identity, gaussianNoise: identity,
  batchNormalization: (g, layer, c) => {
    // ONNX normalises axis 1: channels-first for images, features for [N, C]
    const rank = rankOf(c);
    g.toLayout('nchw', rank);
    if (rank !== 2 && rank !== 4) fail('exportOnnx', `${layer.name}: batch normalization over rank-${rank} inputs has no ONNX mapping`);
    g.apply('BatchNormalization', [...scaleAndShift(g, layer, c), param(g, layer, c, 'moving_mean'), param(g, layer, c, 'moving_variance')], [{ name: 'epsilon', f: layer.epsilon }]);
  },
  layerNormalization: (g, layer, c) => {
    g.toLayout('nhwc', rankOf(c));
    g.apply('LayerNormalization', scaleAndShift(g, layer, c), [{ name: 'axis', i: -1 }, { name: 'epsilon', f: layer.epsilon }]);
  },
  embedding: sequences.embedding,
  simpleRNN: sequences.recurrent,
  lstm: sequences.recurrent,
  gru: sequences.recurrent,
  add: (g, _layer, c) => merges.nary(g, c, 'Sum'),
  subtract: (g, _layer, c) => merges.nary(g, c, 'Sub'),
  multiply: (g, _layer, c) => merges.nary(g, c, 'Mul'),
  average: (g, _layer, c) => merges.nary(g, c, 'Mean'),
  maximum: (g, _layer, c) => merges.nary(g, c, 'Max'),
  minimum: (g, _layer, c) => merges.nary(g, c, 'Min'),
  concatenate: merges.concatenate,
  dot: merges.dot,
  timeDistributed: sequences.timeDistributed,
  bidirectional: sequences.bidirectional,
  multiHeadAttention: sequences.multiHeadAttention,
  positionalEmbedding: sequences.positionalEmbedding,
};

/** A Conv of one group per channel: the depthwise kernel [KH, KW, C, M] as [C*M, 1, KH, KW]. */
function depthwiseConv(g: GraphBuilder, layer: InstanceType<typeof LAYERS.depthwiseConv2d | typeof LAYERS.separableConv2d>, c: OnnxCall, k: { shape: number[]; data: Float32Array }, bias: { shape: number[]; data: Float32Array } | undefined): void {
  g.toLayout('nchw', rankOf(c));
  const [kh, kw, ch, m] = k.shape as [number, number, number, number];
  const inputs = [g.floats(`${layer.name}.depthwise_kernel`, [ch * m, 1, kh, kw], hwioToOihw(k.data, [kh, kw, 1, ch * m]))];
  if (bias) inputs.push(g.floats(`${layer.name}.bias`, bias.shape, bias.data));
  g.apply('Conv', inputs, [
    { name: 'kernel_shape', ints: [kh, kw] }, { name: 'strides', ints: pair(layer.strides) }, { name: 'dilations', ints: pair(layer.dilationRate) },
    { name: 'group', i: ch }, { name: 'pads', ints: pads(layer.name, c.shapes[0]!, kh, kw, layer.strides, layer.padding, layer.dilationRate) },
  ]);
}

function pool2d(g: GraphBuilder, layer: InstanceType<typeof LAYERS.maxPooling2d | typeof LAYERS.averagePooling2d>, c: OnnxCall, op: 'MaxPool' | 'AveragePool'): void {
  g.toLayout('nchw', rankOf(c));
  const [kh, kw] = layer.poolSize;
  g.apply(op, [], [{ name: 'kernel_shape', ints: [kh, kw] }, { name: 'strides', ints: pair(layer.strides) }, { name: 'pads', ints: pads(layer.name, c.shapes[0]!, kh, kw, layer.strides, layer.padding) }]);
}

function globalPool2d(g: GraphBuilder, c: OnnxCall, op: 'GlobalAveragePool' | 'GlobalMaxPool'): void {
  g.toLayout('nchw', rankOf(c));
  g.apply(op);
  g.apply('Flatten', [], [{ name: 'axis', i: 1 }]);
  g.layout = 'nhwc';
}

const byClass = new Map<unknown, OnnxRule<Layer>>(Object.entries(LAYERS).map(([name, C]) => [C, ONNX_RULES[name as LayerName] as OnnxRule<Layer>]));

/** The rule for a layer's class; a custom layer has none. */
export function onnxRuleOf(layer: Layer): OnnxRule<Layer> {
  return byClass.get(layer.constructor) ?? fail('exportOnnx', `${layer.name} (${layer.constructor.name}) is not a built-in layer, so it has no ONNX mapping; exportable: ${Object.values(LAYERS).map((c) => c.name).join(', ')}`);
}
