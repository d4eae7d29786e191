// Recurrent layers (Keras's SimpleRNN, LSTM and GRU) over [batch, time, features] inputs: per
// step a product with the input kernel and one with the recurrent kernel, and the gates as fused
// kernels. Gradients flow through the ops (no custom rule).
import { fail, shapeStr } from '../../core/errors.js';
import * as E from '../../core/expr.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type ActivationName, activationExpr } from '../../ops/activations.js';
import { applyExpr } from '../../ops/apply.js';
import { tensor, zeros } from '../../ops/creation.js';
import { noGrad } from '../../tensor/autograd.js';
import { stack } from '../../ops/join.js';
import { matmul } from '../../ops/matmul.js';
import { slice, squeeze } from '../../ops/views.js';
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
  kernelInitializer?: Initializer;
  recurrentInitializer?: Initializer;
  biasInitializer?: Initializer;
}

const OPTIONS = ['units', 'activation', 'recurrentActivation', 'useBias', 'returnSequences', 'goBackwards', 'kernelInitializer', 'recurrentInitializer', 'biasInitializer'];

/** What the three cells share: weights [features, gates * units], the time loop, the output sequence. */
abstract class Recurrent extends Layer {
  readonly units: number;
  readonly activation: ActivationName;
  readonly recurrentActivation: ActivationName;
  readonly useBias: boolean;
  readonly returnSequences: boolean;
  readonly goBackwards: boolean;
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

  /** One step: the new state from this step's input projection [batch, gates * units] and the state. */
  protected abstract step(xw: Tensor, state: Tensor[]): Tensor[];
  protected abstract stateCount(): number;

  forward(x: Tensor): Tensor {
    if (x.rank !== 3) fail(this.name, `expects inputs [batch, time, features], got ${shapeStr(x.shape)}`);
    const [batch, time] = x.shape as [number, number, number];
    if (time === 0) fail(this.name, `needs at least one time step, got ${shapeStr(x.shape)}`);
    // each step projects its own input: slicing one product of all steps would give every step's
    // gradient the whole product's size (time² work in the backward pass)
    const kernel = this.weight('kernel');
    let state = Array.from({ length: this.stateCount() }, () => zeros([batch, this.units], { device: x.device }));
    const outputs: Tensor[] = [];
    for (let k = 0; k < time; k++) {
      const t = this.goBackwards ? time - 1 - k : k;
      state = this.step(matmul(squeeze(slice(x, [null, [t, t + 1]]), 1), kernel), state);
      if (this.returnSequences) outputs.push(state[0]!);
    }
    return this.returnSequences ? stack(outputs, 1) : state[0]!;
  }

  /** Columns [g * units, (g + 1) * units) of a [batch, gates * units] tensor: gate g. */
  protected gate(z: Tensor, g: number): Tensor {
    return slice(z, [null, [g * this.units, (g + 1) * this.units]]);
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
  protected stateCount(): number { return 1; }
  protected step(xw: Tensor, [h]: Tensor[]): Tensor[] {
    const hu = matmul(h!, this.weight('recurrent_kernel'));
    const b = this.useBias ? [this.weight('bias')] : [];
    const sum = this.useBias ? E.add(E.add(E.input(0), E.input(1)), E.input(2)) : E.add(E.input(0), E.input(1));
    return [applyExpr(this.name, this.act(this.activation, sum), [xw, hu, ...b])];
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
  protected stateCount(): number { return 2; }
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
  protected step(xw: Tensor, [h, c]: Tensor[]): Tensor[] {
    const z0 = matmul(h!, this.weight('recurrent_kernel'));
    const z = applyExpr(this.name, this.useBias ? E.add(E.add(E.input(0), E.input(1)), E.input(2)) : E.add(E.input(0), E.input(1)), [xw, z0, ...(this.useBias ? [this.weight('bias')] : [])]);
    const [i, f, g, o] = [0, 1, 2, 3].map((k) => this.gate(z, k)) as [Tensor, Tensor, Tensor, Tensor];
    const rec = (k: number) => this.act(this.recurrentActivation, E.input(k));
    const cNext = applyExpr(this.name, E.add(E.mul(rec(1), E.input(4)), E.mul(rec(0), this.act(this.activation, E.input(2)))), [i, f, g, o, c!]);
    const hNext = applyExpr(this.name, E.mul(this.act(this.recurrentActivation, E.input(0)), this.act(this.activation, E.input(1))), [o, cNext]);
    return [hNext, cNext];
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
  protected stateCount(): number { return 1; }
  protected override initialBias(init: Initializer, device: string): Tensor {
    return initialize(init, [2, 3 * this.units], device);
  }
  protected step(xw: Tensor, [h]: Tensor[]): Tensor[] {
    const hu = matmul(h!, this.weight('recurrent_kernel'));
    const bias = this.useBias ? this.weight('bias') : null;
    const xb = bias ? applyExpr(this.name, E.add(E.input(0), E.input(1)), [xw, slice(bias, [[0, 1]])]) : xw;
    const hb = bias ? applyExpr(this.name, E.add(E.input(0), E.input(1)), [hu, slice(bias, [[1, 2]])]) : hu;
    const [xz, xr, xh] = [0, 1, 2].map((k) => this.gate(xb, k)) as [Tensor, Tensor, Tensor];
    const [hz, hr, hh] = [0, 1, 2].map((k) => this.gate(hb, k)) as [Tensor, Tensor, Tensor];
    // inputs: xz, hz, xr, hr, xh, hh, h
    const zg = this.act(this.recurrentActivation, E.add(E.input(0), E.input(1)));
    const rg = this.act(this.recurrentActivation, E.add(E.input(2), E.input(3)));
    const cand = this.act(this.activation, E.add(E.input(4), E.mul(rg, E.input(5))));
    return [applyExpr(this.name, E.add(E.mul(zg, E.input(6)), E.mul(E.sub(1, zg), cand)), [xz, hz, xr, hr, xh, hh, h!])];
  }
}
