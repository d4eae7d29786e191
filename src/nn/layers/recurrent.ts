// Recurrent layers (Keras's SimpleRNN, LSTM and GRU) over [batch, time, features] inputs: each
// is a cell written as expressions, run over the sequence by the recurrence op (one product and
// one fused kernel per step, and the same backwards).
import { fail, shapeStr } from '../../core/errors.js';
import * as E from '../../core/expr.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type ActivationName, activationExpr } from '../../ops/activations.js';
import { applyExpr } from '../../ops/apply.js';
import { tensor } from '../../ops/creation.js';
import { gather } from '../../ops/indexing.js';
import { type RecurrenceWeights, type RecurrentCell, recurrence } from '../../ops/recurrence.js';
import { noGrad } from '../../tensor/autograd.js';
import { reshape, slice, squeeze } from '../../ops/views.js';
import { checkBool } from '../../core/validate.js';
import { SymbolicTensor, isSymbolic } from '../symbolic.js';
import { type Initializer, initialize } from '../initializers.js';
import { Layer, type LayerArgs } from '../layer.js';

export interface RecurrentArgs extends LayerArgs {
  units: number;
  /** of the candidate state and the output (tanh) */
  activation?: ActivationName;
  /** of the gates (sigmoid); LSTM and GRU */
  recurrentActivation?: ActivationName;
  useBias?: boolean;
  /** the whole sequence of outputs [batch, time, units] rather than the last one */
  returnSequences?: boolean;
  /** read the sequence from its end (the output sequence is reversed too, as Keras) */
  goBackwards?: boolean;
  /** also return the final states: apply gives [output, h] (LSTM: [output, h, c]) */
  returnState?: boolean;
  kernelInitializer?: Initializer;
  recurrentInitializer?: Initializer;
  biasInitializer?: Initializer;
}

const OPTIONS = ['units', 'activation', 'recurrentActivation', 'useBias', 'returnSequences', 'goBackwards', 'returnState', 'kernelInitializer', 'recurrentInitializer', 'biasInitializer'];

/** What the three cells share: weights [features, gates * units], the time loop, the output sequence. */
abstract class Recurrent extends Layer {
  readonly units: number;
  readonly activation: ActivationName;
  readonly recurrentActivation: ActivationName;
  readonly useBias: boolean;
  readonly returnSequences: boolean;
  readonly goBackwards: boolean;
  readonly returnState: boolean;
  protected abstract readonly gates: number;
  private readonly inits: { kernel: Initializer; recurrent: Initializer; bias: Initializer };

  constructor(prefix: string, args: RecurrentArgs) {
    super(prefix, args);
    if (!Number.isInteger(args.units) || args.units <= 0) fail(this.name, `units must be a positive integer, got ${args.units}`);
    this.units = args.units;
    this.activation = args.activation ?? 'tanh';
    this.recurrentActivation = args.recurrentActivation ?? 'sigmoid';
    activationExpr(this.activation);
    activationExpr(this.recurrentActivation);
    this.useBias = args.useBias ?? true;
    this.returnSequences = args.returnSequences ?? false;
    this.goBackwards = args.goBackwards ?? false;
    this.returnState = checkBool(this.name, 'returnState', args.returnState ?? false);
    this.inits = { kernel: args.kernelInitializer ?? 'glorotUniform', recurrent: args.recurrentInitializer ?? 'orthogonal', bias: args.biasInitializer ?? 'zeros' };
  }

  override build(inputShape: readonly number[], device: string): void {
    if (inputShape.length !== 2) fail(this.name, `expects inputs [batch, time, features], got per-sample shape [${inputShape.join(', ')}]`);
    const n = this.gates * this.units;
    this.addWeight('kernel', initialize(this.inits.kernel, [inputShape[1]!, n], device));
    this.addWeight('recurrent_kernel', initialize(this.inits.recurrent, [this.units, n], device));
    if (this.useBias) this.addWeight('bias', this.initialBias(this.inits.bias, device));
  }

  protected initialBias(init: Initializer, device: string): Tensor {
    return initialize(init, [this.gates * this.units], device);
  }

  computeOutputShape(inputShape: readonly number[]): number[] {
    return this.returnSequences ? [inputShape[0]!, this.units] : [this.units];
  }

  /** The cell as expressions (see recurrence). */
  protected abstract cell(): RecurrentCell;

  /** The kernels and biases the recurrence takes. */
  protected recurrenceWeights(): RecurrenceWeights {
    return { kernel: this.weight('kernel'), recurrentKernel: this.weight('recurrent_kernel'), ...(this.useBias ? { bias: this.weight('bias') } : {}) };
  }

  forward(x: Tensor): Tensor {
    return this.run(x).output;
  }

  /** Padded steps (mask 0) keep the previous state and output, as Keras. */
  protected override forwardMasked(x: Tensor, mask: Tensor): Tensor {
    return this.run(x, mask).output;
  }

  /**
   * On x, or on [x, ...initialStates] (each [batch, units]; LSTM: h and c), as Keras's
   * initial_state. With returnState the result is [output, ...finalStates], as Keras gives it;
   * in TypeScript applyWithState types that list.
   */
  override apply(x: Tensor): Tensor;
  override apply(x: SymbolicTensor): SymbolicTensor;
  override apply(x: readonly Tensor[]): Tensor;
  override apply(x: readonly SymbolicTensor[]): SymbolicTensor;
  override apply(x: Tensor | SymbolicTensor | readonly Tensor[] | readonly SymbolicTensor[]): Tensor | SymbolicTensor {
    const list = (Array.isArray(x) ? x : [x]) as readonly (Tensor | SymbolicTensor)[];
    const outs = isSymbolic(x) ? this.symbolicCall(list as SymbolicTensor[]) : this.callGraph(list as Tensor[], [null]).outputs;
    // the list of outputs with returnState, as Keras (applyWithState types it)
    return (this.returnState ? outs : outs[0]) as Tensor;
  }

  /** [output, ...finalStates] of a layer made with returnState. @example const [out, h, c] = lstm.applyWithState(x) */
  applyWithState(x: Tensor | readonly Tensor[]): Tensor[];
  applyWithState(x: SymbolicTensor | readonly SymbolicTensor[]): SymbolicTensor[];
  applyWithState(x: Tensor | SymbolicTensor | readonly Tensor[] | readonly SymbolicTensor[]): (Tensor | SymbolicTensor)[] {
    if (!this.returnState) fail(this.name, 'applyWithState needs returnState: true');
    return this.apply(x as Tensor) as unknown as Tensor[];
  }

  override callGraph(inputs: readonly Tensor[], masks: readonly (Tensor | null)[]): { outputs: Tensor[]; mask: Tensor | null } {
    const [x, ...initial] = inputs;
    this.prepare(x);
    const mask = masks[0] ?? null;
    const r = this.run(x, mask ?? undefined, initial.length ? initial : undefined);
    return { outputs: this.returnState ? [r.output, ...r.states] : [r.output], mask: this.computeMask(x, mask) };
  }

  /** A functional-API call: its output, and with returnState its final states. */
  private symbolicCall(inputs: readonly SymbolicTensor[]): SymbolicTensor[] {
    const [x, ...initial] = inputs as [SymbolicTensor, ...SymbolicTensor[]];
    const states = this.cell().states;
    if (x.sampleShape.length !== 2) fail(this.name, `expects inputs [batch, time, features], got ${x.name} of shape [batch, ${x.sampleShape.join(', ')}]`);
    if (initial.length && (initial.length !== states || initial.some((t) => t.sampleShape.length !== 1 || t.sampleShape[0] !== this.units))) {
      fail(this.name, `takes [x, ...initial states]: ${states} state${states > 1 ? 's' : ''} of shape [batch, ${this.units}], got ${initial.map((t) => `[batch, ${t.sampleShape.join(', ')}]`).join(', ')}`);
    }
    this.ensureBuilt(x.sampleShape);
    const call = { layer: this, inputs, outputs: [] as SymbolicTensor[] };
    const n = this.nextCall();
    new SymbolicTensor(this.computeOutputShape(x.sampleShape), 'float32', call, `${this.name}/output_${n}`);
    if (this.returnState) for (let s = 0; s < states; s++) new SymbolicTensor([this.units], 'float32', call, `${this.name}/state_${s}_${n}`);
    return call.outputs;
  }

  /** The output sequence carries the mask on; the last output has no time axis left to mask. */
  override computeMask(_x: Tensor, mask: Tensor | null): Tensor | null {
    return this.returnSequences ? mask : null;
  }

  /** The output and the final states, from zero states or the given ones. */
  private run(x: Tensor, mask?: Tensor, initial?: readonly Tensor[]): { output: Tensor; states: Tensor[] } {
    if (x.rank !== 3) fail(this.name, `expects inputs [batch, time, features], got ${shapeStr(x.shape)}`);
    const [batch, time] = x.shape as [number, number, number];
    if (time === 0) fail(this.name, `needs at least one time step, got ${shapeStr(x.shape)}`);
    if (mask && (mask.rank !== 2 || mask.shape[0] !== batch || mask.shape[1] !== time)) fail(this.name, `the mask must be [batch, time] = [${batch}, ${time}], got ${shapeStr(mask.shape)}`);
    const cell = this.cell();
    const all = recurrence(this.name, x, cell, this.recurrenceWeights(), this.goBackwards, mask, initial);
    const last = this.goBackwards ? 0 : time - 1;
    const states = Array.from({ length: cell.states }, (_, s) => reshape(slice(all, [[s, s + 1], null, [last, last + 1]]), [batch, this.units]));
    const sequence = squeeze(slice(all, [[0, 1]]), 0);
    // read backwards, the output sequence is in the order read (Keras)
    const output = !this.returnSequences ? states[0]!
      : this.goBackwards ? gather(sequence, tensor(Int32Array.from({ length: time }, (_, k) => time - 1 - k), { device: x.device }), 1) : sequence;
    return { output, states };
  }

  protected act(name: ActivationName, e: E.Expr): E.Expr {
    return activationExpr(name)(e);
  }
}

/** Fully connected recurrence: h = activation(x W + h U + b). @example tsr.layers.simpleRNN({ units: 32 }) */
export class SimpleRNN extends Recurrent {
  static override readonly options = OPTIONS;
  protected readonly gates = 1;
  constructor(args: RecurrentArgs) { super('simple_rnn', args); }
  protected cell(): RecurrentCell {
    return { gates: this.gates, states: 1, next: ([z], [r]) => [this.act(this.activation, E.add(z!, r!))] };
  }
}

/**
 * Long short-term memory, gates in Keras's (and PyTorch's) order i, f, c, o; the forget gate's
 * bias starts at 1 (unitForgetBias). @example tsr.layers.lstm({ units: 64, returnSequences: true })
 */
export class LSTM extends Recurrent {
  static override readonly options = [...OPTIONS, 'unitForgetBias'];
  protected readonly gates = 4;
  readonly unitForgetBias: boolean;
  constructor(args: RecurrentArgs & { unitForgetBias?: boolean }) {
    super('lstm', args);
    this.unitForgetBias = args.unitForgetBias ?? true;
  }
  protected override initialBias(init: Initializer, device: string): Tensor {
    const b = initialize(init, [4 * this.units], device);
    if (!this.unitForgetBias) return b;
    // the forget gate's block of the bias is ones, so the cell starts by remembering
    const forget = tensor(Float32Array.from({ length: 4 * this.units }, (_, k) => (Math.floor(k / this.units) === 1 ? 1 : 0)), { device });
    const out = noGrad(() => applyExpr(this.name, E.where(E.binary('eq', E.input(1), 1), 1, E.input(0)), [b, forget]));
    b.dispose();
    forget.dispose();
    return out;
  }
  /** c = f c + i g, h = o activation(c), gates i, f, c, o. */
  protected cell(): RecurrentCell {
    return {
      gates: this.gates, states: 2,
      next: (z, r, [, c]) => {
        const [i, f, g, o] = [0, 1, 2, 3].map((k) => E.add(z[k]!, r[k]!));
        const rec = (e: E.Expr) => this.act(this.recurrentActivation, e);
        const cNext = E.add(E.mul(rec(f!), c!), E.mul(rec(i!), this.act(this.activation, g!)));
        return [E.mul(rec(o!), this.act(this.activation, cNext)), cNext];
      },
    };
  }
}

/**
 * Gated recurrent unit as Keras's default (resetAfter: the reset gate applies after the recurrent
 * product, as PyTorch's GRU), gates z, r, h; bias [2, 3 * units]: input bias, then recurrent bias.
 * @example tsr.layers.gru({ units: 64 })
 */
export class GRU extends Recurrent {
  static override readonly options = OPTIONS;
  protected readonly gates = 3;
  constructor(args: RecurrentArgs) { super('gru', args); }
  protected override initialBias(init: Initializer, device: string): Tensor {
    return initialize(init, [2, 3 * this.units], device);
  }
  /** The input bias (row 0) joins the input projection, the recurrent bias (row 1) the recurrent one. */
  protected override recurrenceWeights(): RecurrenceWeights {
    const w = super.recurrenceWeights();
    if (!this.useBias) return w;
    const b = this.weight('bias');
    return { ...w, bias: squeeze(slice(b, [[0, 1]]), 0), recurrentBias: squeeze(slice(b, [[1, 2]]), 0) };
  }
  /** z, r gates; the candidate reads r times the recurrent projection (reset after, as PyTorch). */
  protected cell(): RecurrentCell {
    return {
      gates: this.gates, states: 1,
      next: ([xz, xr, xh], [hz, hr, hh], [h]) => {
        const zg = this.act(this.recurrentActivation, E.add(xz!, hz!));
        const rg = this.act(this.recurrentActivation, E.add(xr!, hr!));
        const cand = this.act(this.activation, E.add(xh!, E.mul(rg, hh!)));
        return [E.add(E.mul(zg, h!), E.mul(E.sub(1, zg), cand))];
      },
    };
  }
}
