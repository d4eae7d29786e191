// ONNX rules for the merge layers of functional models: each input is brought to tessera's layout,
// then combined by one node (Sum, Mean, Max, Min take any number; Sub and Mul are chained).
import type { Concatenate, Dot } from '../nn/layers/merge.js';
import type { GraphBuilder } from './onnx-graph.js';
import type { OnnxCall } from './onnx-rules.js';

const namesOf = (g: GraphBuilder, c: OnnxCall) => c.inputs.map((v, i) => g.use(v, c.shapes[i]!.length + 1));

export function nary(g: GraphBuilder, c: OnnxCall, op: 'Sum' | 'Sub' | 'Mul' | 'Mean' | 'Max' | 'Min'): void {
  const names = namesOf(g, c);
  g.value = op === 'Sub' || op === 'Mul' ? names.slice(1).reduce((a, b) => g.node(op, [a, b]), names[0]!) : g.node(op, names);
  g.layout = 'nhwc';
}

export function concatenate(g: GraphBuilder, layer: Concatenate, c: OnnxCall): void {
  g.value = g.node('Concat', namesOf(g, c), [{ name: 'axis', i: layer.axis }]);
  g.layout = 'nhwc';
}

/** Keras's Dot: [b, n] . [b, n] -> [b, 1]; [b, m, k] . [b, n, k] (axes [2, 2]) -> [b, m, n]. */
export function dot(g: GraphBuilder, layer: Dot, c: OnnxCall): void {
  let [a, b] = namesOf(g, c) as [string, string];
  const rank = c.shapes[0]!.length;
  const [ax, bx] = layer.axes.map((x) => (x < 0 ? rank + 1 + x : x)) as [number, number];
  if (layer.normalize) {
    a = g.node('LpNormalization', [a], [{ name: 'axis', i: ax }, { name: 'p', i: 2 }]);
    b = g.node('LpNormalization', [b], [{ name: 'axis', i: bx }, { name: 'p', i: 2 }]);
  }
  if (rank === 1) {
    g.value = g.node('ReduceSum', [g.node('Mul', [a, b]), g.ints(g.fresh('axes'), [1])], [{ name: 'keepdims', i: 1 }]);
  } else {
    const swap = (v: string) => g.node('Transpose', [v], [{ name: 'perm', ints: [0, 2, 1] }]);
    g.value = g.node('MatMul', [ax === 2 ? a : swap(a), bx === 1 ? b : swap(b)]);
  }
  g.layout = 'nhwc';
}
