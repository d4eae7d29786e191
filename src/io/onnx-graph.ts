// The ONNX graph being built (opset 17): nodes, initializers, and the value the next layer reads
// with its layout. tessera computes in NHWC; ONNX convolutions and pooling are NCHW, so rank-4
// values carry their layout and are transposed only where it changes.
import { fail } from '../core/errors.js';
import type { Layer } from '../nn/layer.js';

export const FLOAT = 1, INT32 = 6, INT64 = 7;

export type Attr =
  | { name: string; f: number }
  | { name: string; i: number }
  | { name: string; ints: readonly number[] }
  | { name: string; s: string }
  | { name: string; strings: readonly string[] };
export interface Node { op: string; inputs: string[]; outputs: string[]; attrs: Attr[] }
export interface Initializer { name: string; dims: number[]; type: typeof FLOAT | typeof INT64; data: Float32Array | BigInt64Array }
export type Layout = 'nhwc' | 'nchw';
/** An ONNX value and the layout of its rank-4 data. */
export interface Value { readonly name: string; readonly layout: Layout }
export type Weights = Map<string, { shape: number[]; data: Float32Array }>;

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private count = 0;
  /** the current value (what the layer being emitted reads, and then writes) and its layout */
  value = 'input';
  layout: Layout = 'nhwc';

  fresh(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  node(op: string, inputs: string[], attrs: Attr[] = [], out = this.fresh(op.toLowerCase())): string {
    this.nodes.push({ op, inputs, outputs: [out], attrs });
    return out;
  }

  /** A node of several outputs (LSTM's Y and Y_h); returns their names. */
  nodeOutputs(op: string, inputs: string[], attrs: Attr[], count: number): string[] {
    const outputs = Array.from({ length: count }, () => this.fresh(op.toLowerCase()));
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }

  /** Applies op to the current value. */
  apply(op: string, extraInputs: string[] = [], attrs: Attr[] = []): void {
    this.value = this.node(op, [this.value, ...extraInputs], attrs);
  }

  floats(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, type: FLOAT, data });
    return name;
  }

  ints(name: string, data: readonly number[]): string {
    this.initializers.push({ name, dims: [data.length], type: INT64, data: BigInt64Array.from(data.map(BigInt)) });
    return name;
  }

  scalar(v: number): string {
    return this.floats(this.fresh('const'), [], Float32Array.of(v));
  }

  toLayout(layout: Layout, rank: number): void {
    if (rank !== 4 || this.layout === layout) return;
    this.apply('Transpose', [], [{ name: 'perm', ints: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] }]);
    this.layout = layout;
  }

  /** Makes `v` current, in tessera's layout (NHWC): what layers that read several values need. */
  use(v: Value, rank: number): string {
    this.value = v.name;
    this.layout = v.layout;
    this.toLayout('nhwc', rank);
    return this.value;
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
}

/** A layer's weights by their short names (kernel, bias, ...). */
export async function weightsOf(layer: Layer): Promise<Weights> {
  const out: Weights = new Map();
  for (const [name, t] of layer.namedTensors()) out.set(name.slice(layer.name.length + 1), { shape: [...t.shape], data: (await t.data()) as Float32Array });
  return out;
}
