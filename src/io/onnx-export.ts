// ONNX export (opset 17) of sequential and functional models: each layer call becomes nodes by
// its rule (onnx-rules.ts); values keep their layout (see onnx-graph.ts).
import { writeFileAtomic } from './atomic.js';
import { fail } from '../core/errors.js';
import type { DType } from '../core/dtype.js';
import type { Layer } from '../nn/layer.js';
import { Embedding } from '../nn/layers/embedding.js';
import type { SymbolicTensor } from '../nn/symbolic.js';
import type { Functional } from '../train/functional.js';
import type { Sequential } from '../train/sequential.js';
import { ProtoWriter } from './protobuf.js';
import { FLOAT, GraphBuilder, INT32, type Value, weightsOf } from './onnx-graph.js';
import { onnxRuleOf } from './onnx-rules.js';

const IR_VERSION = 8, OPSET = 17;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7, STRINGS: 8 } as const;

/** Emits one call of `layer` on `inputs` (per-sample shapes `shapes`); returns its outputs (the builder's current value, unless the rule names several). */
async function emitCall(g: GraphBuilder, layer: Layer, inputs: readonly Value[], shapes: readonly (readonly number[])[]): Promise<Value[]> {
  g.value = inputs[0]!.name;
  g.layout = inputs[0]!.layout;
  const w = await weightsOf(layer);
  const several = await onnxRuleOf(layer)(g, layer, { inputs, shapes, w, emit: async (inner, shape) => { await emitCall(g, inner, [{ name: g.value, layout: g.layout }], [shape]); } });
  return several ?? [{ name: g.value, layout: g.layout }];
}

interface Graph { inputs: { name: string; shape: readonly number[]; dtype: DType }[]; outputs: { name: string; shape: readonly number[] }[] }

async function sequentialGraph(g: GraphBuilder, model: Sequential): Promise<Graph> {
  const inputShape = model.inputShape;
  if (!model.isBuilt || !inputShape) fail('exportOnnx', `${model.name} needs a known input shape: give the first layer inputShape, or call the model once`);
  let value: Value = { name: 'input', layout: 'nhwc' };
  let shape: readonly number[] = inputShape;
  for (const layer of model.layers) {
    value = (await emitCall(g, layer, [value], [shape]))[0]!;
    shape = layer.computeOutputShape(shape);
  }
  finish(g, value, 'output', shape);
  // an embedding reads integer ids
  return { inputs: [{ name: 'input', shape: inputShape, dtype: model.layers[0] instanceof Embedding ? 'int32' : 'float32' }], outputs: [{ name: 'output', shape }] };
}

async function functionalGraph(g: GraphBuilder, model: Functional): Promise<Graph> {
  const values = new Map<SymbolicTensor, Value>(model.inputs.map((t) => [t, { name: t.name, layout: 'nhwc' }]));
  for (const step of model.graphSteps) {
    const outs = await emitCall(g, step.layer, step.inputs.map((t) => values.get(t)!), step.inputs.map((t) => t.sampleShape));
    step.outputs.forEach((o, i) => values.set(o, outs[i]!));
  }
  const names = model.outputNames;
  model.outputs.forEach((t, i) => finish(g, values.get(t)!, names[i]!, t.sampleShape));
  return {
    inputs: model.inputs.map((t) => ({ name: t.name, shape: t.sampleShape, dtype: t.dtype })),
    outputs: model.outputs.map((t, i) => ({ name: names[i]!, shape: t.sampleShape })),
  };
}

/** Names a graph output, in tessera's layout. */
function finish(g: GraphBuilder, v: Value, name: string, shape: readonly number[]): void {
  g.value = v.name;
  g.layout = v.layout;
  g.toLayout('nhwc', shape.length + 1);
  g.nodes.push({ op: 'Identity', inputs: [g.value], outputs: [name], attrs: [] });
}

function valueInfo(w: ProtoWriter, field: number, name: string, dims: (number | string)[], dtype: DType = 'float32'): void {
  const type = dtype === 'int32' ? INT32 : dtype === 'float32' ? FLOAT : fail('exportOnnx', `input ${name} is ${dtype}; ONNX export takes float32 and int32 inputs`);
  w.message(field, (v) => v.string(1, name).message(2, (t) => t.message(1, (tt) => tt.int(1, type).message(2, (s) => {
    for (const d of dims) s.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
  }))));
}

/** The model as ONNX bytes: inputs and outputs named as the model names them ('input' and 'output' for a sequential one). */
export async function onnxBytes(model: Sequential | Functional): Promise<Uint8Array> {
  const g = new GraphBuilder();
  const io = 'graphSteps' in model ? await functionalGraph(g, model) : await sequentialGraph(g, model);

  const w = new ProtoWriter();
  w.int(1, IR_VERSION).string(2, 'tessera').string(3, '0.1.0');
  w.message(7, (graph) => {
    for (const n of g.nodes) {
      graph.message(1, (node) => {
        for (const i of n.inputs) node.string(1, i);
        for (const o of n.outputs) node.string(2, o);
        node.string(3, n.outputs[0]!).string(4, n.op);
        for (const a of n.attrs) {
          node.message(5, (attr) => {
            attr.string(1, a.name);
            if ('f' in a) attr.float(2, a.f).int(20, ATTR.FLOAT);
            else if ('i' in a) attr.int(3, a.i).int(20, ATTR.INT);
            else if ('s' in a) attr.string(4, a.s).int(20, ATTR.STRING);
            else if ('strings' in a) { for (const v of a.strings) attr.string(9, v); attr.int(20, ATTR.STRINGS); }
            else attr.packedInts(8, a.ints).int(20, ATTR.INTS);
          });
        }
      });
    }
    graph.string(2, model.name);
    for (const t of g.initializers) {
      graph.message(5, (tensor) => {
        if (t.dims.length) tensor.packedInts(1, t.dims);
        tensor.int(2, t.type).string(8, t.name).bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      });
    }
    for (const i of io.inputs) valueInfo(graph, 11, i.name, ['batch', ...i.shape], i.dtype);
    for (const o of io.outputs) valueInfo(graph, 12, o.name, ['batch', ...o.shape]);
  });
  w.message(8, (opset) => opset.string(1, '').int(2, OPSET));
  return w.finish();
}

/** Writes the model as an ONNX file (atomically). */
export async function exportOnnx(model: Sequential | Functional, path: string): Promise<void> {
  await writeFileAtomic(path, [await onnxBytes(model)]);
}
