// ONNX export of sequential models (opset 17). tessera computes in NHWC; ONNX convolutions and
// pooling are NCHW, so the exporter tracks the layout and transposes only where it changes.
import { writeFileAtomic } from './atomic.js';
import { fail } from '../core/errors.js';
import { windowGeometry } from '../ops/window-geometry.js';
import type { Layer } from '../nn/layer.js';
import { Activation, Flatten, LeakyReLU, PReLU, Reshape, Softmax } from '../nn/layers/basic.js';
import { Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D } from '../nn/layers/noise.js';
import { AveragePooling2D, Conv2D, GlobalAveragePooling2D, MaxPooling2D } from '../nn/layers/conv.js';
import { Dense } from '../nn/layers/dense.js';
import { BatchNormalization, LayerNormalization } from '../nn/layers/normalization.js';
import type { Sequential } from '../train/sequential.js';
import { ProtoWriter } from './protobuf.js';
import { SHAPE_LAYERS, emitShapeLayer } from './onnx-shape-layers.js';

const OPSET = 17, IR_VERSION = 8;
const FLOAT = 1, INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 } as const;

type Attr = { name: string; f: number } | { name: string; i: number } | { name: string; ints: readonly number[] };
interface Node { op: string; inputs: string[]; outputs: string[]; attrs: Attr[] }
interface Initializer { name: string; dims: number[]; type: typeof FLOAT | typeof INT64; data: Float32Array | BigInt64Array }

/** Builds the graph while walking the layers. */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private count = 0;
  /** the current value and its layout: rank-4 values are NHWC or NCHW */
  value = 'input';
  layout: 'nhwc' | 'nchw' = 'nhwc';

  fresh(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  node(op: string, inputs: string[], attrs: Attr[] = [], out = this.fresh(op.toLowerCase())): string {
    this.nodes.push({ op, inputs, outputs: [out], attrs });
    return out;
  }

  /** Applies op to the current value. */
  apply(op: string, extraInputs: string[] = [], attrs: Attr[] = []): void {
    this.value = this.node(op, [this.value, ...extraInputs], attrs);
  }

  floats(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, type: FLOAT, data });
    return name;
  }

  ints(name: string, data: number[]): string {
    this.initializers.push({ name, dims: [data.length], type: INT64, data: BigInt64Array.from(data.map(BigInt)) });
    return name;
  }

  toLayout(layout: 'nhwc' | 'nchw', rank: number): void {
    if (rank !== 4 || this.layout === layout) return;
    this.apply('Transpose', [], [{ name: 'perm', ints: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] }]);
    this.layout = layout;
  }

  activation(name: string): void {
    switch (name) {
      case 'linear': return;
      case 'relu': return this.apply('Relu');
      case 'sigmoid': return this.apply('Sigmoid');
      case 'tanh': return this.apply('Tanh');
      case 'softplus': return this.apply('Softplus');
      case 'elu': return this.apply('Elu', [], [{ name: 'alpha', f: 1 }]);
      case 'leakyRelu': return this.apply('LeakyRelu', [], [{ name: 'alpha', f: 0.2 }]);
      case 'silu': {
        const x = this.value;
        this.value = this.node('Mul', [x, this.node('Sigmoid', [x])]);
        return;
      }
      case 'gelu': {
        // 0.5 x (1 + erf(x / sqrt 2)); Gelu itself arrives only in opset 20
        const x = this.value;
        const erf = this.node('Erf', [this.node('Div', [x, this.scalar(Math.SQRT2)])]);
        this.value = this.node('Mul', [this.node('Mul', [x, this.scalar(0.5)]), this.node('Add', [erf, this.scalar(1)])]);
        return;
      }
      case 'softmax': return this.apply('Softmax', [], [{ name: 'axis', i: -1 }]);
      case 'relu6': return this.apply('Clip', [this.scalar(0), this.scalar(6)]);
      case 'selu': return this.apply('Selu', [], [{ name: 'alpha', f: 1.6732632423543772 }, { name: 'gamma', f: 1.0507009873554805 }]);
      case 'hardSigmoid': return this.apply('HardSigmoid', [], [{ name: 'alpha', f: 1 / 6 }, { name: 'beta', f: 0.5 }]);
      case 'softsign': return this.apply('Softsign');
      case 'exponential': return this.apply('Exp');
      case 'swish': return this.activation('silu');
      case 'mish': {
        // Mish itself arrives only in opset 18
        const x = this.value;
        this.value = this.node('Mul', [x, this.node('Tanh', [this.node('Softplus', [x])])]);
        return;
      }
      default: fail('exportOnnx', `activation '${name}' has no ONNX mapping`);
    }
  }

  private scalar(v: number): string {
    return this.floats(this.fresh('const'), [], Float32Array.of(v));
  }
}

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

async function weightsOf(layer: Layer): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of layer.namedTensors()) out.set(name.slice(layer.name.length + 1), { shape: [...t.shape], data: (await t.data()) as Float32Array });
  return out;
}

async function emitLayer(g: GraphBuilder, layer: Layer, shape: number[]): Promise<void> {
  const w = await weightsOf(layer);
  const rank = shape.length + 1;
  const param = (key: string) => g.floats(`${layer.name}.${key}`, w.get(key)!.shape, w.get(key)!.data);
  if (layer instanceof Dense) {
    g.toLayout('nhwc', rank);
    g.apply('MatMul', [param('kernel')]);
    if (layer.useBias) g.apply('Add', [param('bias')]);
    g.activation(layer.activation);
  } else if (layer instanceof Conv2D) {
    g.toLayout('nchw', rank);
    const k = w.get('kernel')!;
    const [kh, kw, cinPerGroup, cout] = k.shape as [number, number, number, number];
    const inputs = [g.floats(`${layer.name}.kernel`, [cout, cinPerGroup, kh, kw], hwioToOihw(k.data, k.shape))];
    if (layer.useBias) inputs.push(param('bias'));
    g.apply('Conv', inputs, [
      { name: 'kernel_shape', ints: [kh, kw] }, { name: 'strides', ints: pair(layer.strides) }, { name: 'dilations', ints: pair(layer.dilationRate) },
      { name: 'group', i: layer.groups }, { name: 'pads', ints: pads(layer.name, shape, kh, kw, layer.strides, layer.padding, layer.dilationRate) },
    ]);
    // softmax normalises the channels, the last axis in tessera's layout
    if (layer.activation === 'softmax') g.toLayout('nhwc', rank);
    g.activation(layer.activation);
  } else if (layer instanceof MaxPooling2D || layer instanceof AveragePooling2D) {
    g.toLayout('nchw', rank);
    const [kh, kw] = layer.poolSize;
    g.apply(layer instanceof MaxPooling2D ? 'MaxPool' : 'AveragePool', [], [
      { name: 'kernel_shape', ints: [kh, kw] }, { name: 'strides', ints: pair(layer.strides) }, { name: 'pads', ints: pads(layer.name, shape, kh, kw, layer.strides, layer.padding) },
    ]);
  } else if (layer instanceof GlobalAveragePooling2D) {
    g.toLayout('nchw', rank);
    g.apply('GlobalAveragePool');
    g.apply('Flatten', [], [{ name: 'axis', i: 1 }]);
    g.layout = 'nhwc';
  } else if (layer instanceof Flatten) {
    g.toLayout('nhwc', rank);
    g.apply('Flatten', [], [{ name: 'axis', i: 1 }]);
  } else if (layer instanceof Reshape) {
    g.toLayout('nhwc', rank);
    g.apply('Reshape', [g.ints(g.fresh(`${layer.name}.shape`), [0, ...layer.targetShape])]);
    g.layout = 'nhwc';
  } else if (layer instanceof Dropout || layer instanceof GaussianNoise || layer instanceof SpatialDropout1D || layer instanceof SpatialDropout2D) {
    // identity at inference
  } else if (layer instanceof Activation) {
    if (layer.activation === 'softmax') g.toLayout('nhwc', rank);
    g.activation(layer.activation);
  } else if (layer instanceof Softmax) {
    g.toLayout('nhwc', rank);
    g.apply('Softmax', [], [{ name: 'axis', i: layer.axis }]);
  } else if (layer instanceof PReLU) {
    // the slope [per-sample shape] broadcasts over the batch in tessera's layout
    g.toLayout('nhwc', rank);
    g.apply('PRelu', [param('alpha')]);
  } else if (layer instanceof LeakyReLU) {
    g.apply('LeakyRelu', [], [{ name: 'alpha', f: layer.alpha }]);
  } else if (layer instanceof BatchNormalization) {
    // ONNX normalises axis 1: channels-first for images, features for [N, C]
    g.toLayout('nchw', rank);
    if (rank !== 2 && rank !== 4) fail('exportOnnx', `${layer.name}: batch normalization over rank-${rank} inputs has no ONNX mapping`);
    const c = shape[shape.length - 1]!;
    const scale = w.has('gamma') ? param('gamma') : g.floats(`${layer.name}.gamma`, [c], new Float32Array(c).fill(1));
    const bias = w.has('beta') ? param('beta') : g.floats(`${layer.name}.beta`, [c], new Float32Array(c));
    g.apply('BatchNormalization', [scale, bias, param('moving_mean'), param('moving_variance')], [{ name: 'epsilon', f: layer.epsilon }]);
  } else if (layer instanceof LayerNormalization) {
    g.toLayout('nhwc', rank);
    const c = shape[shape.length - 1]!;
    const scale = w.has('gamma') ? param('gamma') : g.floats(`${layer.name}.gamma`, [c], new Float32Array(c).fill(1));
    const bias = w.has('beta') ? param('beta') : g.floats(`${layer.name}.beta`, [c], new Float32Array(c));
    g.apply('LayerNormalization', [scale, bias], [{ name: 'axis', i: -1 }, { name: 'epsilon', f: layer.epsilon }]);
  } else if (!emitShapeLayer(g, layer, shape, w)) {
    fail('exportOnnx', `${layer.name} (${layer.constructor.name}) has no ONNX mapping; exportable: Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, Dropout, SpatialDropout1D, SpatialDropout2D, GaussianNoise, Activation, Softmax, LeakyReLU, PReLU, BatchNormalization, LayerNormalization, ${SHAPE_LAYERS}`);
  }
}

function valueInfo(w: ProtoWriter, field: number, name: string, dims: (number | string)[]): void {
  w.message(field, (v) => v.string(1, name).message(2, (t) => t.message(1, (tt) => tt.int(1, FLOAT).message(2, (s) => {
    for (const d of dims) s.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
  }))));
}

/** The model as ONNX bytes. */
export async function onnxBytes(model: Sequential): Promise<Uint8Array> {
  const inputShape = model.inputShape;
  if (!model.isBuilt || !inputShape) fail('exportOnnx', `${model.name} needs a known input shape: give the first layer inputShape, or call the model once`);
  const g = new GraphBuilder();
  let shape = [...inputShape];
  for (const layer of model.layers) {
    await emitLayer(g, layer, shape);
    shape = layer.computeOutputShape(shape);
  }
  g.toLayout('nhwc', shape.length + 1);
  g.nodes.push({ op: 'Identity', inputs: [g.value], outputs: ['output'], attrs: [] });

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
    valueInfo(graph, 11, 'input', ['batch', ...inputShape]);
    valueInfo(graph, 12, 'output', ['batch', ...shape]);
  });
  w.message(8, (opset) => opset.string(1, '').int(2, OPSET));
  return w.finish();
}

/** Writes the model as an ONNX file (atomically). */
export async function exportOnnx(model: Sequential, path: string): Promise<void> {
  await writeFileAtomic(path, [await onnxBytes(model)]);
}
