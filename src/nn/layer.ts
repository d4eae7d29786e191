// Layer: the unit models are made of. Weights are created lazily from the first input's
// shape (Keras's build), and sublayers held in properties are found automatically.
import { fail, shapeStr } from '../core/errors.js';
import { checkShape } from '../core/shape.js';
import { checkBool, checkOptions, shown } from '../core/validate.js';
import { keep } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../tensor/autograd.js';
import * as E from '../core/expr.js';
import { applyExpr, assignExpr } from '../ops/apply.js';
import { toDevice } from '../ops/device.js';
import { getBackend, getDefaultDevice } from '../backends/registry.js';
import { uniqueName } from './names.js';
import { SymbolicTensor, isSymbolic } from './symbolic.js';

export { uniqueName } from './names.js';

export interface LayerArgs {
  name?: string;
  /** shape of one sample (without the batch dimension), for the first layer of a model */
  inputShape?: readonly number[];
  trainable?: boolean;
}

/** Bumped whenever any layer's set of trainable weights changes (made, moved, frozen): compiled steps key on it. */
let weightsVersion = 0;
export function layerWeightsVersion(): number { return weightsVersion; }

export abstract class Layer {
  readonly name: string;
  /** per-sample input shape given by the user, if any */
  readonly declaredInputShape?: number[];
  private isTrainable: boolean;
  training = true;
  /** where the weights are: set by the build (the input's device) or by to() */
  private placement?: string;
  protected built = false;
  /** the per-sample input shape the weights were built for (declared, or seen at the first call) */
  protected builtShape?: number[];
  private readonly ownWeights = new Map<string, Tensor>();
  private readonly ownState = new Map<string, Tensor>();
  /** the constructor's options, for getConfig */
  private readonly args: LayerArgs;

  /**
   * The arguments a built-in layer takes besides name, inputShape and trainable: a misspelt one
   * is an error, as Keras rejects unknown arguments. Custom layers may leave it out.
   */
  static readonly options?: readonly string[];

  constructor(prefix: string, args: LayerArgs = {}) {
    if (typeof args !== 'object' || args === null || Array.isArray(args)) fail(prefix, `layer arguments must be an object, got ${shown(args)}`);
    const own = (new.target as { options?: readonly string[] }).options;
    if (own) checkOptions(prefix, args, ['name', 'inputShape', 'trainable', ...own]);
    if (args.name !== undefined && (typeof args.name !== 'string' || args.name === '')) fail(prefix, `name must be a non-empty string, got ${shown(args.name)}`);
    this.args = { ...args };
    this.name = args.name ?? uniqueName(prefix);
    if (args.inputShape) this.declaredInputShape = checkShape(this.name, args.inputShape).map((d) => d || fail(this.name, `inputShape [${args.inputShape!.join(', ')}] has a zero dimension`));
    this.isTrainable = checkBool(this.name, 'trainable', args.trainable ?? true);
  }

  /** Whether optimizers update this layer's weights; a frozen layer's weights get no gradient. */
  get trainable(): boolean { return this.isTrainable; }
  set trainable(on: boolean) {
    this.isTrainable = checkBool(this.name, 'trainable', on);
    weightsVersion++;
    for (const t of this.ownWeights.values()) {
      t.requiresGrad = on;
      if (!on) t.zeroGrad();
    }
  }

  /** Creates weights for a per-sample input shape on `device`; called once, before the first forward. */
  build(_inputShape: readonly number[], _device: string): void {}

  /** Per-sample output shape for a per-sample input shape. */
  abstract computeOutputShape(inputShape: readonly number[]): number[];

  /** The computation, on a batch. */
  abstract forward(x: Tensor): Tensor;

  /**
   * Builds if needed (weights on the input's device, or where `to()` placed the layer), checks
   * the input, then runs forward. On a symbolic tensor (the functional API), builds for its
   * shape and returns the symbolic output. @example layer.apply(x)
   */
  apply(x: Tensor): Tensor;
  apply(x: SymbolicTensor): SymbolicTensor;
  apply(x: Tensor | SymbolicTensor): Tensor | SymbolicTensor {
    if (isSymbolic(x)) return this.applySymbolic(Array.isArray(x) ? x : [x]);
    this.prepare(x);
    return this.forward(x);
  }

  /** Builds for the input if needed and checks it is where the weights are. */
  protected prepare(x: unknown): asserts x is Tensor {
    if (!(x instanceof Tensor)) fail(this.name, `expected a Tensor or a symbolic tensor (tsr.input), got ${shown(x)}`);
    this.ensureBuilt(x.shape.slice(1), x.device);
    const placed = this.placement;
    if (placed !== x.device) {
      fail(this.name, `the input (shape ${shapeStr(x.shape)}) is on '${x.device}' but the weights are on '${placed}'; move one: x.to('${placed}') or model.to('${x.device}')`);
    }
  }

  /**
   * apply with Keras's mask of padded steps ([batch, time], 1 where a step is real), as
   * sequential and functional models thread it from an embedding with maskZero: returns the
   * output and the mask that goes with it.
   */
  applyMasked(x: Tensor, mask: Tensor | null): { y: Tensor; mask: Tensor | null } {
    this.prepare(x);
    return { y: mask ? this.forwardMasked(x, mask) : this.forward(x), mask: this.computeMask(x, mask) };
  }

  /** forward for an input with padded steps; layers that read the mask (recurrent ones) override it. */
  protected forwardMasked(x: Tensor, _mask: Tensor): Tensor {
    return this.forward(x);
  }

  /** Layers that keep the time axis and treat steps independently carry the mask on (Dense, Dropout, LayerNormalization, ...). */
  static readonly passesMask: boolean = false;

  /**
   * The mask of the output for the input's mask. A layer that can neither use nor carry one is
   * an error: it would read the padding as data.
   */
  computeMask(_x: Tensor, mask: Tensor | null): Tensor | null {
    if (!mask) return null;
    if ((this.constructor as typeof Layer).passesMask) return mask;
    return fail(this.name, `${this.constructor.name} cannot use or carry the mask of padded steps (from an embedding with maskZero); put a recurrent layer before it, or drop maskZero`);
  }

  /**
   * One call in a model's graph on real tensors: every output (a recurrent layer with
   * returnState has its states too) and the mask that goes with the first. Layers of one input
   * run applyMasked; merge and recurrent layers take lists.
   */
  callGraph(inputs: readonly Tensor[], masks: readonly (Tensor | null)[]): { outputs: Tensor[]; mask: Tensor | null } {
    if (inputs.length !== 1) fail(this.name, `takes one input, got a list of ${inputs.length}; merge layers (add, concatenate, ...) take lists`);
    const { y, mask } = this.applyMasked(inputs[0]!, masks[0] ?? null);
    return { outputs: [y], mask };
  }

  /** A functional-API call: one symbolic input (merge layers take several). */
  protected applySymbolic(inputs: readonly SymbolicTensor[]): SymbolicTensor {
    if (inputs.length !== 1) fail(this.name, `takes one input, got a list of ${inputs.length}; merge layers (add, concatenate, ...) take lists`);
    const x = inputs[0]!;
    this.ensureBuilt(x.sampleShape);
    if (this.builtShape && (this.builtShape.length !== x.sampleShape.length || this.builtShape.some((d, i) => d !== x.sampleShape[i]))) {
      fail(this.name, `was built for inputs of shape [batch, ${this.builtShape.join(', ')}], called on ${x.name} of shape [batch, ${x.sampleShape.join(', ')}]`);
    }
    return new SymbolicTensor(this.computeOutputShape(x.sampleShape), 'float32', { layer: this, inputs, outputs: [] }, `${this.name}/output_${this.nextCall()}`);
  }
  private symbolicCalls = 0;
  /** Numbers this layer's functional-API calls, for their outputs' names. */
  protected nextCall(): number { return ++this.symbolicCalls; }

  /**
   * Creates the weights for a per-sample input shape if not yet made: on the device `to()` or
   * `compile({ device })` chose, else on `device` (the input's, when built by a call), else the
   * default device.
   */
  ensureBuilt(inputShape: readonly number[], device?: string): void {
    if (this.built) return;
    if (this.declaredInputShape && (this.declaredInputShape.length !== inputShape.length || this.declaredInputShape.some((d, i) => d !== inputShape[i]))) {
      fail(this.name, `expected inputs of shape [batch, ${this.declaredInputShape.join(', ')}], got [batch, ${inputShape.join(', ')}]`);
    }
    this.placement ??= device ?? getDefaultDevice();
    this.build(inputShape, this.placement);
    this.builtShape = [...inputShape];
    this.built = true;
  }

  /** The device the weights are on, or will be made on (undefined before a build or to()). */
  get device(): string | undefined {
    return this.placement;
  }

  get isBuilt(): boolean { return this.built; }

  /** Registers a trainable weight (kept out of tidy scopes; requires a gradient). */
  protected addWeight(name: string, value: Tensor): Tensor {
    const t = keep(value.requireGrad(this.trainable));
    this.ownWeights.set(name, t);
    weightsVersion++;
    return t;
  }

  /** Registers non-trainable state saved with the model (e.g. batch-norm running statistics). */
  protected addState(name: string, value: Tensor): Tensor {
    this.ownState.set(name, keep(value));
    return value;
  }

  protected weight(name: string): Tensor {
    const w = this.ownWeights.get(name) ?? this.ownState.get(name);
    if (!w) fail(this.name, `weight '${name}' does not exist (was the layer built?)`);
    return w;
  }

  /** This layer's own penalty on its weights, added to the training loss (e.g. a kernel regularizer), or null; models add every layer's. */
  regularization(): Tensor | null {
    return null;
  }

  /** Sublayers held in this layer's properties (directly or in arrays). */
  children(): Layer[] {
    const out: Layer[] = [];
    for (const v of Object.values(this)) {
      if (v instanceof Layer) out.push(v);
      else if (Array.isArray(v)) for (const x of v) if (x instanceof Layer) out.push(x);
    }
    return out;
  }

  /** Every weight and state tensor by its stable name (e.g. dense_1.kernel), children included. */
  namedTensors(opts: { trainableOnly?: boolean } = {}): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    if (!opts.trainableOnly || this.trainable) for (const [k, v] of this.ownWeights) out.push([`${this.name}.${k}`, v]);
    if (!opts.trainableOnly) for (const [k, v] of this.ownState) out.push([`${this.name}.${k}`, v]);
    for (const c of this.children()) out.push(...c.namedTensors(opts));
    return out;
  }

  /**
   * Copies of every weight and state tensor, layer by layer (Keras's order: a batch norm's gamma,
   * beta, moving mean, moving variance). @example const saved = model.getWeights()
   */
  getWeights(): Tensor[] {
    return noGrad(() => this.namedTensors().map(([, t]) => applyExpr('getWeights', E.input(0, t.dtype), [t])));
  }

  /** Sets every weight from `values` (in getWeights' order), copying them in place onto the weights' device. */
  setWeights(values: readonly Tensor[]): void {
    const named = this.namedTensors();
    if (!Array.isArray(values) || values.length !== named.length) {
      fail(`${this.name}.setWeights`, `expected ${named.length} tensors (${named.map(([n, t]) => `${n} ${shapeStr(t.shape)}`).join(', ')}), got ${Array.isArray(values) ? values.length : shown(values)}`);
    }
    named.forEach(([name, t], i) => {
      const v = values[i];
      if (!(v instanceof Tensor)) fail(`${this.name}.setWeights`, `value ${i + 1} (for ${name}) is not a Tensor, got ${shown(v)}`);
      if (v.dtype !== t.dtype || v.shape.length !== t.shape.length || v.shape.some((d, k) => d !== t.shape[k])) {
        fail(`${this.name}.setWeights`, `${name} is ${shapeStr(t.shape)} ${t.dtype}, value ${i + 1} is ${shapeStr(v.shape)} ${v.dtype}`);
      }
    });
    noGrad(() => named.forEach(([, t], i) => {
      const v = values[i]!;
      const src = v.device === t.device ? v : toDevice(v, t.device);
      assignExpr(`${this.name}.setWeights`, [t], [E.input(0, t.dtype)], [src]);
      if (src !== v) src.dispose();
    }));
  }

  /** The sublayer called `name` (searched through the whole tree). @example model.getLayer('dense_1') */
  getLayer(name: string): Layer {
    const find = (l: Layer): Layer | undefined => l.children().reduce<Layer | undefined>((hit, c) => hit ?? (c.name === name ? c : find(c)), undefined);
    return find(this) ?? fail(this.name, `no layer named '${name}' (layers: ${this.children().map((c) => c.name).join(', ') || 'none'})`);
  }

  /** Trainable weights, for optimizers. */
  parameters(): Tensor[] {
    return this.namedTensors({ trainableOnly: true }).map(([, t]) => t);
  }

  /** Weights and state, as Keras counts "Total params". */
  countParams(opts: { trainableOnly?: boolean } = {}): number {
    return this.namedTensors(opts).reduce((sum, [, t]) => sum + t.size, 0);
  }

  /** Training mode (dropout active, batch statistics) or inference mode, recursively. */
  train(on = true): this {
    this.training = on;
    for (const c of this.children()) c.train(on);
    return this;
  }
  eval(): this { return this.train(false); }

  /** Clears the gradient of every weight (frozen ones included, should one hold a gradient). */
  zeroGrad(): void {
    for (const [, t] of this.namedTensors()) t.zeroGrad();
  }

  /** Moves every weight to `device`; weights made later (an unbuilt layer) are made there. */
  to(device: string): this {
    getBackend(device);
    this.placement = device;
    for (const map of [this.ownWeights, this.ownState]) {
      for (const [k, t] of map) {
        if (t.device === device) continue;
        const moved = keep(toDevice(t.detach(), device));
        if (t.requiresGrad) moved.requireGrad();
        t.dispose();
        map.set(k, moved);
        weightsVersion++;
      }
    }
    for (const c of this.children()) c.to(device);
    return this;
  }

  /**
   * The options this layer was made with, as JSON (Keras's get_config), so loadModel can make
   * it again. Options that are functions (a custom initializer) cannot be saved.
   */
  getConfig(): Record<string, unknown> {
    const config: Record<string, unknown> = { ...this.args, name: this.name, trainable: this.trainable };
    for (const [key, value] of Object.entries(config)) {
      if (typeof value === 'function') fail(this.name, `cannot save the architecture: option '${key}' is a function; use a named option (e.g. an initializer name), or save the weights alone with saveWeights`);
    }
    return JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  }

  /** Counters kept on the host that training depends on (dropout's call count), for checkpoints. */
  hostState(): Record<string, number> { return {}; }
  restoreHostState(_state: Record<string, number>): void {}

  /** Frees every weight. */
  dispose(): void {
    for (const [, t] of this.namedTensors()) { t.zeroGrad(); t.dispose(); }
  }
}
