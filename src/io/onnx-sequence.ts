// ONNX rules for sequence models: embeddings, the recurrent layers as ONNX's own RNN, LSTM and GRU
// nodes, the wrappers (timeDistributed, bidirectional), and attention as MatMul and Softmax.
import { fail } from '../core/errors.js';
import type { MultiHeadAttention, PositionalEmbedding } from '../nn/layers/attention.js';
import type { Embedding } from '../nn/layers/embedding.js';
import type { GRU, LSTM, SimpleRNN } from '../nn/layers/recurrent.js';
import type { Bidirectional, TimeDistributed } from '../nn/layers/wrappers.js';
import { type GraphBuilder, INT64, type Value } from './onnx-graph.js';
import type { OnnxCall } from './onnx-rules.js';

const ONNX_ACTIVATIONS: Record<string, string> = { sigmoid: 'Sigmoid', tanh: 'Tanh', relu: 'Relu' };

export function embedding(g: GraphBuilder, layer: Embedding, c: OnnxCall): void {
  if (layer.maskZero) fail('exportOnnx', `${layer.name}: maskZero (padded steps skipped by the recurrent layers after it) has no ONNX mapping here`);
  const e = c.w.get('embeddings')!;
  g.value = g.node('Gather', [g.floats(`${layer.name}.embeddings`, e.shape, e.data), g.node('Cast', [g.value], [{ name: 'to', i: INT64 }])], [{ name: 'axis', i: 0 }]);
}

/** Rows of `units`-wide gate blocks, reordered: block k of the result is block order[k] of `m` [rows, gates * units]. */
function gateBlocks(m: Float32Array, rows: number, units: number, order: readonly number[]): Float32Array {
  const gates = order.length, out = new Float32Array(rows * gates * units);
  for (let r = 0; r < rows; r++) for (let k = 0; k < gates; k++) out.set(m.subarray(r * gates * units + order[k]! * units, r * gates * units + (order[k]! + 1) * units), r * gates * units + k * units);
  return out;
}

/** [rows, cols] -> [cols, rows]. */
function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = m[r * cols + k]!;
  return out;
}

/** Reverses the time axis (1) of [batch, time, ...]. */
function reverseTime(g: GraphBuilder, time: number): void {
  g.apply('Slice', [g.ints(g.fresh('starts'), [time - 1]), g.ints(g.fresh('ends'), [-(2 ** 62)]), g.ints(g.fresh('axes'), [1]), g.ints(g.fresh('steps'), [-1])]);
}

/**
 * SimpleRNN, LSTM and GRU as ONNX's RNN, LSTM and GRU (time-major, so the input and the output
 * sequence are transposed). ONNX orders LSTM gates i, o, f, c where Keras has i, f, c, o; GRU's
 * z, r, h agree, and Keras's reset-after GRU is linear_before_reset.
 */
export function recurrent(g: GraphBuilder, layer: SimpleRNN | LSTM | GRU, c: OnnxCall): Value[] | void {
  const [time, features] = c.shapes[0] as [number, number];
  const units = layer.units, kind = layer.constructor.name as 'SimpleRNN' | 'LSTM' | 'GRU';
  const order = kind === 'LSTM' ? [0, 3, 1, 2] : kind === 'GRU' ? [0, 1, 2] : [0];
  const gates = order.length;
  const act = (name: string) => ONNX_ACTIVATIONS[name] ?? fail('exportOnnx', `${layer.name}: activation '${name}' has no ONNX ${kind} mapping (sigmoid, tanh, relu have)`);
  const activations = kind === 'LSTM' ? [act(layer.recurrentActivation), act(layer.activation), act(layer.activation)]
    : kind === 'GRU' ? [act(layer.recurrentActivation), act(layer.activation)] : [act(layer.activation)];
  const k = c.w.get('kernel')!, r = c.w.get('recurrent_kernel')!;
  const W = transposed(gateBlocks(k.data, features, units, order), features, gates * units);
  const R = transposed(gateBlocks(r.data, units, units, order), units, gates * units);
  // B = [input biases, recurrent biases]; only the GRU has the second kind
  const B = new Float32Array(2 * gates * units);
  const bias = c.w.get('bias');
  if (bias) {
    const rows = kind === 'GRU' ? 2 : 1;
    B.set(gateBlocks(bias.data, rows, units, order));
  }
  const x = g.value;
  // initial states [batch, units] -> ONNX's [directions, batch, units], after the (absent) sequence lengths
  const initial = c.inputs.slice(1).map((v) => g.node('Unsqueeze', [v.name, g.ints(g.fresh('axes'), [0])]));
  const inputs = [
    g.node('Transpose', [x], [{ name: 'perm', ints: [1, 0, 2] }]),
    g.floats(`${layer.name}.W`, [1, gates * units, features], W),
    g.floats(`${layer.name}.R`, [1, gates * units, units], R),
    g.floats(`${layer.name}.B`, [1, 2 * gates * units], B),
    ...(initial.length ? ['', ...initial] : []),
  ];
  const attrs = [
    { name: 'hidden_size', i: units }, { name: 'direction', s: layer.goBackwards ? 'reverse' : 'forward' }, { name: 'activations', strings: activations },
    ...(kind === 'GRU' ? [{ name: 'linear_before_reset', i: 1 }] : []),
  ];
  const [y, ...finals] = g.nodeOutputs(kind === 'SimpleRNN' ? 'RNN' : kind, inputs, attrs, kind === 'LSTM' ? 3 : 2) as [string, ...string[]];
  const states = finals.map((f) => g.node('Squeeze', [f, g.ints(g.fresh('axes'), [0])]));
  if (!layer.returnSequences) {
    g.value = states[0]!;
  } else {
    // [time, 1, batch, units] -> [batch, time, units]; read backwards, Keras gives the outputs in the order read
    g.value = g.node('Transpose', [g.node('Squeeze', [y, g.ints(g.fresh('axes'), [1])])], [{ name: 'perm', ints: [1, 0, 2] }]);
    if (layer.goBackwards) reverseTime(g, time);
  }
  if (layer.returnState) return [g.value, ...states].map((name) => ({ name, layout: 'nhwc' as const }));
}

export async function bidirectional(g: GraphBuilder, layer: Bidirectional, c: OnnxCall): Promise<void> {
  const input = g.value, shape = c.shapes[0]!;
  await c.emit(layer.forwardLayer, shape);
  const a = g.value;
  g.value = input;
  await c.emit(layer.backwardLayer, shape);
  if ((layer.forwardLayer as unknown as SimpleRNN).returnSequences) reverseTime(g, shape[0]!);
  const b = g.value;
  switch (layer.mergeMode) {
    case 'concat': g.value = g.node('Concat', [a, b], [{ name: 'axis', i: -1 }]); return;
    case 'sum': g.value = g.node('Add', [a, b]); return;
    case 'mul': g.value = g.node('Mul', [a, b]); return;
    case 'ave': g.value = g.node('Mean', [a, b]); return;
  }
}

/** The inner layer on [batch * time, ...], reshaped back to [batch, time, ...]. */
export async function timeDistributed(g: GraphBuilder, layer: TimeDistributed, c: OnnxCall): Promise<void> {
  const [time, ...rest] = c.shapes[0]!;
  const out = layer.layer.computeOutputShape(rest);
  g.apply('Reshape', [g.ints(g.fresh(`${layer.name}.steps`), [-1, ...rest])]);
  await c.emit(layer.layer, rest);
  g.toLayout('nhwc', out.length + 1);
  g.apply('Reshape', [g.ints(g.fresh(`${layer.name}.shape`), [-1, time!, ...out])]);
}

/** Scaled dot-product attention over heads, as the layer computes it (see attention.ts). */
export function multiHeadAttention(g: GraphBuilder, layer: MultiHeadAttention, c: OnnxCall): void {
  const names = c.inputs.map((v) => g.use(v, 3));
  const [query, value, key = value, mask] = names as [string, string, string | undefined, string | undefined];
  const [tq] = c.shapes[0]!, tk = (c.shapes[2] ?? c.shapes[1]!)[0]!;
  const H = layer.numHeads;
  const weight = (n: string, dims: number[]) => g.floats(`${layer.name}.${n}`, dims, c.w.get(n)!.data);
  const project = (n: string, x: string, dim: number) => {
    const kernel = c.w.get(`${n}Kernel`)!;
    let y = g.node('MatMul', [x, weight(`${n}Kernel`, [kernel.shape[0]!, H * dim])]);
    if (layer.useBias) y = g.node('Add', [y, weight(`${n}Bias`, [H * dim])]);
    return g.node('Transpose', [g.node('Reshape', [y, g.ints(g.fresh('heads'), [0, 0, H, dim])])], [{ name: 'perm', ints: [0, 2, 1, 3] }]);
  };
  const q = g.node('Mul', [project('query', query, layer.keyDim), g.scalar(1 / Math.sqrt(layer.keyDim))]);
  const k = project('key', key!, layer.keyDim), v = project('value', value!, layer.valueDim);
  let scores = g.node('MatMul', [q, g.node('Transpose', [k], [{ name: 'perm', ints: [0, 1, 3, 2] }])]);
  if (mask) {
    const unsqueezed = g.node('Unsqueeze', [g.node('Cast', [mask], [{ name: 'to', i: 1 }]), g.ints(g.fresh('axes'), [1])]);
    scores = g.node('Add', [scores, g.node('Mul', [g.node('Sub', [g.scalar(1), unsqueezed]), g.scalar(-1e9)])]);
  }
  if (layer.useCausalMask) {
    const bias = new Float32Array(tq! * tk);
    for (let i = 0; i < tq!; i++) for (let j = i + 1; j < tk; j++) bias[i * tk + j] = -1e9;
    scores = g.node('Add', [scores, g.floats(g.fresh(`${layer.name}.causal`), [tq!, tk], bias)]);
  }
  const context = g.node('MatMul', [g.node('Softmax', [scores], [{ name: 'axis', i: -1 }]), v]);
  const out = c.w.get('outputKernel')!.shape[2]!;
  let y = g.node('MatMul', [g.node('Reshape', [g.node('Transpose', [context], [{ name: 'perm', ints: [0, 2, 1, 3] }]), g.ints(g.fresh('merged'), [0, 0, H * layer.valueDim])]), weight('outputKernel', [H * layer.valueDim, out])]);
  if (layer.useBias) y = g.node('Add', [y, weight('outputBias', [out])]);
  g.value = y;
  g.layout = 'nhwc';
}

export function positionalEmbedding(g: GraphBuilder, layer: PositionalEmbedding, c: OnnxCall): void {
  const [time, features] = c.shapes[0] as [number, number];
  const e = c.w.get('embeddings')!;
  g.apply('Add', [g.floats(`${layer.name}.embeddings`, [time, features], e.data.slice(0, time * features))]);
}
