// Functional models, tsr.model({ inputs, outputs }): the graph of layer calls that leads from
// symbolic inputs to outputs, run call by call on real tensors. A layer called twice (shared)
// holds one set of weights.
import { fail, shapeStr } from '../core/errors.js';
import { checkOptions, shown } from '../core/validate.js';
import type { ArchitectureConfig, FunctionalConfig } from '../io/model-dir.js';
import { Layer, type LayerArgs } from '../nn/layer.js';
import { Merge } from '../nn/layers/merge.js';
import { SymbolicTensor } from '../nn/symbolic.js';
import { Tensor } from '../tensor/tensor.js';
import { Model } from './model.js';
import { summaryTable } from './summary.js';
import { exportOnnx } from '../io/onnx-export.js';

/** One layer call of the graph, in an order where every input is made before it is used. */
export interface GraphStep { readonly layer: Layer; readonly inputs: readonly SymbolicTensor[]; readonly outputs: readonly SymbolicTensor[] }

export interface FunctionalArgs extends LayerArgs {
  inputs: SymbolicTensor | readonly SymbolicTensor[];
  outputs: SymbolicTensor | readonly SymbolicTensor[];
}

const list = (op: string, what: string, v: unknown): SymbolicTensor[] => {
  const items = Array.isArray(v) ? v : [v];
  if (items.length === 0) fail(op, `${what} must name at least one symbolic tensor`);
  items.forEach((t, i) => { if (!(t instanceof SymbolicTensor)) fail(op, `${what}[${i}] is not a symbolic tensor (make inputs with tsr.input and outputs by calling layers on them), got ${shown(t)}`); });
  return items as SymbolicTensor[];
};

export class Functional extends Model<Tensor | Tensor[]> {
  readonly inputs: readonly SymbolicTensor[];
  readonly outputs: readonly SymbolicTensor[];
  /** every layer of the graph once, in the order of their first call */
  readonly layers: readonly Layer[];
  /** the layer calls from the inputs to the outputs, each after those it reads */
  readonly graphSteps: readonly GraphStep[];

  constructor(args: FunctionalArgs) {
    const op = 'model';
    if (typeof args !== 'object' || args === null) fail(op, `expected { inputs, outputs }, got ${shown(args)}`);
    checkOptions(op, args, ['inputs', 'outputs', 'name', 'trainable']);
    const inputs = list(op, 'inputs', args.inputs), outputs = list(op, 'outputs', args.outputs);
    super('model', { name: args.name, trainable: args.trainable });
    new Set(inputs).size === inputs.length || fail(op, 'an input is listed twice');
    inputs.forEach((t) => { if (t.call) fail(op, `inputs must be tsr.input() tensors; ${t.name} is the output of layer ${t.call.layer.name}`); });
    this.inputs = inputs;
    this.outputs = outputs;
    this.graphSteps = order(op, inputs, outputs);
    this.layers = [...new Set(this.graphSteps.map((s) => s.layer))];
    // the layers were built by their calls; this places the model where they are
    this.ensureBuilt(inputs[0]!.sampleShape, this.layers[0]?.device);
  }

  /** The one input's per-sample shape (a model with several inputs has none). */
  get inputShape(): number[] | undefined {
    return this.inputs.length === 1 ? [...this.inputs[0]!.sampleShape] : undefined;
  }

  override build(): void {}

  override get inputNames(): string[] { return this.inputs.map((t) => t.name); }

  /** Each output's name: the layer that makes it (Keras's), or the tensor's when a layer makes two outputs. */
  override get outputNames(): string[] {
    const layerNames = this.outputs.map((t) => t.call?.layer.name ?? t.name);
    return this.outputs.map((t, i) => (layerNames.indexOf(layerNames[i]!) === layerNames.lastIndexOf(layerNames[i]!) ? layerNames[i]! : t.name));
  }

  protected override forwardAll(xs: readonly Tensor[]): Tensor[] { return this.call(xs); }

  protected override sampleInputShapes(): (readonly number[] | undefined)[] { return this.inputs.map((t) => t.sampleShape); }

  protected override sampleOutputShapes(): (readonly number[] | undefined)[] { return this.outputs.map((t) => t.sampleShape); }

  override computeOutputShape(inputShape: readonly number[]): number[] {
    this.single('computeOutputShape');
    const expected = this.inputs[0]!.sampleShape;
    if (inputShape.length !== expected.length || inputShape.some((d, i) => d !== expected[i])) fail(this.name, `expects inputs of shape [batch, ${expected.join(', ')}], got [batch, ${inputShape.join(', ')}]`);
    return [...this.outputs[0]!.sampleShape];
  }

  /** A model of one input and one output is also a layer: forward runs the graph. */
  forward(x: Tensor): Tensor {
    this.single('forward');
    return this.call([x])[0]!;
  }

  /** Runs the graph on one tensor per input (in `inputs` order); returns one per output. */
  call(xs: readonly Tensor[]): Tensor[] {
    if (!Array.isArray(xs) || xs.length !== this.inputs.length) {
      fail(this.name, `takes ${this.inputs.length} input tensor${this.inputs.length > 1 ? 's' : ''} (${this.inputs.map((t) => t.name).join(', ')}), got ${Array.isArray(xs) ? xs.length : shown(xs)}`);
    }
    const values = new Map<SymbolicTensor, Tensor>();
    // the mask of padded steps each value carries (from an embedding with maskZero)
    const masks = new Map<SymbolicTensor, Tensor | null>();
    this.inputs.forEach((s, i) => {
      const x = xs[i];
      if (!(x instanceof Tensor)) fail(this.name, `input ${s.name} must be a Tensor, got ${shown(x)}`);
      if (x.rank !== s.rank || s.sampleShape.some((d, k) => d !== x.shape[k + 1])) fail(this.name, `input ${s.name} expects shape [batch, ${s.sampleShape.join(', ')}], got ${shapeStr(x.shape)}`);
      values.set(s, x);
    });
    for (const step of this.graphSteps) {
      const ins = step.inputs.map((s) => values.get(s)!), inMasks = step.inputs.map((s) => masks.get(s) ?? null);
      const { outputs, mask } = step.layer.callGraph(ins, inMasks);
      step.outputs.forEach((o, i) => { values.set(o, outputs[i]!); masks.set(o, i === 0 ? mask : null); });
    }
    return this.outputs.map((s) => values.get(s)!);
  }

  private single(what: string): void {
    if (this.inputs.length !== 1 || this.outputs.length !== 1) fail(this.name, `${what} needs a model of one input and one output; this one has ${this.inputs.length} and ${this.outputs.length} (use call([...]))`);
  }

  /**
   * Writes the model as ONNX (opset 17), inputs and outputs named as here, for onnxruntime and
   * other runtimes. @example await model.exportOnnx('model.onnx')
   */
  exportOnnx(path: string): Promise<void> {
    return exportOnnx(this, path);
  }

  override architecture(): ArchitectureConfig {
    const config: FunctionalConfig = {
      class: 'Functional',
      name: this.name,
      inputs: this.inputs.map((t) => ({ name: t.name, shape: [...t.sampleShape], dtype: t.dtype })),
      layers: this.layers.map((l) => ({ class: l.constructor.name, config: l.getConfig() })),
      calls: this.graphSteps.map((s) => ({ layer: s.layer.name, inputs: s.inputs.map((t) => t.name), output: s.outputs.length === 1 ? s.outputs[0]!.name : s.outputs.map((t) => t.name) })),
      outputs: this.outputs.map((t) => t.name),
    };
    return config;
  }

  /** Keras-style table: each layer call with its output shape, parameters and the layers it reads. */
  summary(print: (line: string) => void = console.log): string {
    const rows: string[][] = this.inputs.map((t) => [`${t.name} (InputLayer)`, `(None, ${t.sampleShape.join(', ')})`, '0', '']);
    // a shared layer's calls are told apart by their number, as Keras's layer[k]
    const callsOf = new Map<Layer, number>(), label = new Map<SymbolicTensor, string>();
    for (const s of this.graphSteps) callsOf.set(s.layer, (callsOf.get(s.layer) ?? 0) + 1);
    const seen = new Map<Layer, number>();
    for (const s of this.graphSteps) {
      const k = seen.get(s.layer) ?? 0;
      seen.set(s.layer, k + 1);
      // several outputs (returnState) are told apart by their index, as Keras's layer[k][i]
      const name = callsOf.get(s.layer)! > 1 ? `${s.layer.name}[${k}]` : s.layer.name;
      s.outputs.forEach((o, i) => label.set(o, s.outputs.length > 1 ? `${name}[${i}]` : name));
      const params = k > 0 ? 0 : s.layer.countParams();
      const shapes = s.outputs.map((o) => `(None, ${o.sampleShape.join(', ')})`);
      rows.push([`${s.layer.name} (${s.layer.constructor.name})`, shapes.length === 1 ? shapes[0]! : `[${shapes.join(', ')}]`, String(params), s.inputs.map((t) => label.get(t) ?? t.name).join(', ')]);
    }
    return summaryTable(this, ['Layer (type)', 'Output Shape', 'Param #', 'Connected to'], rows, print);
  }
}

/** One call of a layer: a merge layer takes the list, any other layer its one input (a list of several is an error naming the layer). */
export function callLayer<T extends Tensor | SymbolicTensor>(layer: Layer, inputs: readonly T[]): T {
  const apply = layer.apply.bind(layer) as (x: T | readonly T[]) => T;
  return apply(layer instanceof Merge || inputs.length !== 1 ? inputs : inputs[0]!);
}

/** The layer calls from the inputs to the outputs, each after the calls it reads from; a path that starts at an unlisted input is an error. */
function order(op: string, inputs: readonly SymbolicTensor[], outputs: readonly SymbolicTensor[]): GraphStep[] {
  const given = new Set(inputs);
  const steps: GraphStep[] = [];
  const done = new Set<SymbolicTensor>();
  const visit = (t: SymbolicTensor, from: SymbolicTensor): void => {
    if (done.has(t)) return;
    if (!t.call) {
      if (!given.has(t)) fail(op, `output ${from.name} depends on input ${t.name}, which is not among the model's inputs (${inputs.map((i) => i.name).join(', ')}): the graph is disconnected`);
      done.add(t);
      return;
    }
    for (const i of t.call.inputs) visit(i, from);
    // one step per call, making all of its outputs
    t.call.outputs.forEach((o) => done.add(o));
    steps.push({ layer: t.call.layer, inputs: t.call.inputs, outputs: t.call.outputs });
  };
  for (const o of outputs) visit(o, o);
  return steps;
}

/**
 * A model from the functional API: symbolic inputs, and outputs made by calling layers on them.
 * @example const x = tsr.input({ shape: [784] }); const y = tsr.layers.dense({ units: 10 }).apply(x); const m = tsr.model({ inputs: x, outputs: y })
 */
export function model(args: FunctionalArgs): Functional {
  return new Functional(args);
}
