// A recurrent layer's whole sequence as one op. Forward: every step's input projection in one
// product, then per step one product with the recurrent kernel and one fused kernel of the cell's
// expressions. Backward: the steps in reverse, each one fused kernel (the cell's expressions
// differentiated symbolically, so any activation works) and one product; then the weight
// gradients as one product each over all steps. Per step that is 2 kernels each way, where
// composing ops gave dozens (each gate's slice, activation and their gradients).
import { fail, shapeStr } from '../core/errors.js';
import * as E from '../core/expr.js';
import { exprVjp } from '../core/expr-grad.js';
import { attachGrad, noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { biasActivation } from './activations.js';
import { add } from './arith.js';
import { assignExpr, evalSumTo } from './apply.js';
import { zeros } from './creation.js';
import { concat } from './join.js';
import { matmul } from './matmul.js';
import { backendOf, empty } from './util.js';
import { reshape, slice, squeeze, swapAxes } from './views.js';

/** A recurrent cell as expressions of one step's values. */
export interface RecurrentCell {
  /** blocks of `units` columns in the kernels (LSTM 4, GRU 3, SimpleRNN 1) */
  readonly gates: number;
  /** state tensors carried between steps; state 0 is the output (LSTM: h, c) */
  readonly states: number;
  /**
   * Each new state from the step's gate inputs: z[g] the input projection (input bias added),
   * r[g] the recurrent projection (recurrent bias added), prev[s] the previous states.
   */
  next(z: readonly E.Expr[], r: readonly E.Expr[], prev: readonly E.Expr[]): E.Expr[];
}

export interface RecurrenceWeights {
  /** [features, gates * units] */
  kernel: Tensor;
  /** [units, gates * units] */
  recurrentKernel: Tensor;
  /** [gates * units], added to the input projection */
  bias?: Tensor;
  /** [gates * units], added to the recurrent projection (GRU's reset-after bias) */
  recurrentBias?: Tensor;
}

/** Row t of a [batch, time, n] tensor as a [batch, n] view. */
const stepOf = (t: Tensor, time: number) => squeeze(slice(t, [null, [time, time + 1]]), 1);

/**
 * Runs `cell` over x [batch, time, features], forwards in time or from the end (goBackwards),
 * from zero states or `initial` ([batch, units] each). Returns every state of every step,
 * [states, batch, time, units], indexed by time. Where `mask` [batch, time] is 0 a step keeps
 * the states it had (padding is skipped).
 */
export function recurrence(op: string, x: Tensor, cell: RecurrentCell, w: RecurrenceWeights, goBackwards: boolean, mask?: Tensor, initial?: readonly Tensor[]): Tensor {
  if (x.rank !== 3) fail(op, `expects inputs [batch, time, features], got ${shapeStr(x.shape)}`);
  const G = cell.gates, S = cell.states, units = w.recurrentKernel.shape[0]!, GU = G * units;
  const [batch, time] = x.shape as [number, number, number];
  if (initial && (initial.length !== S || initial.some((t) => t.rank !== 2 || t.shape[0] !== batch || t.shape[1] !== units))) {
    fail(op, `initial states must be ${S} tensor${S > 1 ? 's' : ''} of shape [${batch}, ${units}], got ${initial.map((t) => shapeStr(t.shape)).join(', ') || 'none'}`);
  }
  const all = [x, w.kernel, w.recurrentKernel, ...(w.bias ? [w.bias] : []), ...(w.recurrentBias ? [w.recurrentBias] : []), ...(initial ?? [])];
  const backend = backendOf(op, [...all, ...(mask ? [mask] : [])]);
  for (const t of [...all, ...(mask ? [mask] : [])]) if (t.dtype !== 'float32') fail(op, `computes in float32, got ${t.dtype} ${shapeStr(t.shape)}`);
  if (w.kernel.shape[1] !== GU || w.recurrentKernel.shape[1] !== GU) fail(op, `kernel ${shapeStr(w.kernel.shape)} and recurrent kernel ${shapeStr(w.recurrentKernel.shape)} need ${GU} columns (${G} gates of ${units} units)`);
  // the order steps are taken in
  const order = Array.from({ length: time }, (_, k) => (goBackwards ? time - 1 - k : k));
  const hasRB = w.recurrentBias !== undefined;

  // kernel inputs: z gates, r gates, previous states, recurrent-bias gates, the mask; then (backward) upstream values
  const zIn = Array.from({ length: G }, (_, g) => E.input(g));
  const rIn = Array.from({ length: G }, (_, g) => (hasRB ? E.add(E.input(G + g), E.input(2 * G + S + g)) : E.input(G + g)));
  const prevIn = Array.from({ length: S }, (_, s) => E.input(2 * G + s));
  const maskIn = E.input(2 * G + S + (hasRB ? G : 0));
  const next = cell.next(zIn, rIn, prevIn).map((e, s) => (mask ? E.where(E.binary('gt', maskIn, 0), e, prevIn[s]!) : e));
  const maskOf = (t: number) => (mask ? [reshape(stepOf(mask, t), [batch, 1])] : []);
  const gatesOf = (t: Tensor) => Array.from({ length: G }, (_, g) => slice(t, [null, [g * units, (g + 1) * units]]));
  const rbGates = hasRB ? Array.from({ length: G }, (_, g) => slice(w.recurrentBias!, [[g * units, (g + 1) * units]])) : [];
  const transposedR = () => swapAxes(w.recurrentKernel, 0, 1);

  const saved = noGrad(() => {
    const z = biasActivation(op, matmul(x, w.kernel), w.bias, 'linear');
    const out = empty(backend, [S, batch, time, units], 'float32');
    const states = Array.from({ length: S }, (_, s) => squeeze(slice(out, [[s, s + 1]]), 0));
    const zeroState = zeros([batch, units], { device: x.device });
    const start = initial ?? states.map(() => zeroState);
    const r: Tensor[] = [];
    const prevStates = (k: number) => states.map((s, i) => (k === 0 ? start[i]! : stepOf(s, order[k - 1]!)));
    const stepInputs = (k: number) => [...gatesOf(stepOf(z, order[k]!)), ...gatesOf(r[k]!), ...prevStates(k), ...rbGates, ...maskOf(order[k]!)];
    for (let k = 0; k < time; k++) {
      const h = prevStates(k)[0]!;
      r.push(h === zeroState ? zeros([batch, GU], { device: x.device }) : matmul(h, w.recurrentKernel));
      assignExpr(op, states.map((s) => stepOf(s, order[k]!)), next, stepInputs(k));
    }
    return { out, states, zeroState, start, stepInputs };
  });

  return attachGrad(saved.out, op, all, (dOut, needs) => noGrad(() => {
    const base = 2 * G + S + (hasRB ? G : 0) + (mask ? 1 : 0);
    // upstream of state s: its own gradient at this step and what flowed back from the next; state 0 also through the recurrent product
    const dOutIn = (s: number) => E.input(base + s), carriedIn = (s: number) => E.input(base + S + s), throughRIn = E.input(base + 2 * S);
    const up = Array.from({ length: S }, (_, s) => (s === 0 ? E.add(E.add(dOutIn(0), carriedIn(0)), throughRIn) : E.add(dOutIn(s), carriedIn(s))));
    const vjp = new Map<number, E.Expr>();
    next.forEach((e, s) => exprVjp(e, up[s]!).forEach((g, i) => vjp.set(i, vjp.has(i) ? E.add(vjp.get(i)!, g) : g)));
    const grad = (i: number) => vjp.get(i) ?? E.constant(0);
    const dzExprs = zIn.map((_, g) => grad(g)), drExprs = rIn.map((_, g) => grad(G + g)), dPrevExprs = prevIn.map((_, s) => grad(2 * G + s));
    // LSTM and SimpleRNN see z + r only: one gradient serves both
    const shared = dzExprs.every((e, g) => E.exprKey(e) === E.exprKey(drExprs[g]!));
    const dz = empty(backend, [batch, time, GU], 'float32');
    const dr = shared ? dz : empty(backend, [batch, time, GU], 'float32');
    const dStates = Array.from({ length: S }, (_, s) => squeeze(slice(dOut, [[s, s + 1]]), 0));
    const zeroState = saved.zeroState;
    let carried: Tensor[] = Array.from({ length: S }, () => zeroState);
    let throughR = zeroState;
    for (let k = time - 1; k >= 0; k--) {
      const t = order[k]!;
      const nextCarried = Array.from({ length: S }, () => empty(backend, [batch, units], 'float32'));
      assignExpr(op,
        [...gatesOf(stepOf(dz, t)), ...(shared ? [] : gatesOf(stepOf(dr, t))), ...nextCarried],
        [...dzExprs, ...(shared ? [] : drExprs), ...dPrevExprs],
        [...saved.stepInputs(k), ...dStates.map((d) => stepOf(d, t)), ...carried, throughR]);
      carried = nextCarried;
      if (k > 0) throughR = matmul(stepOf(dr, t), transposedR());
    }
    const flat = (t: Tensor, n: number) => reshape(t, [batch * time, n]);
    const features = x.shape[2]!;
    // the h each step read: the one of the step before it in the order taken, the initial one first
    const shiftedOut = () => {
      const first = reshape(saved.start[0]!, [batch, 1, units]), h = saved.states[0]!;
      return goBackwards ? concat([slice(h, [null, [1, time]]), first], 1) : concat([first, slice(h, [null, [0, time - 1]])], 1);
    };
    const grads: (Tensor | null)[] = [
      needs[0] ? matmul(dz, swapAxes(w.kernel, 0, 1)) : null,
      needs[1] ? matmul(swapAxes(flat(x, features), 0, 1), flat(dz, GU)) : null,
      needs[2] ? matmul(swapAxes(flat(shiftedOut(), units), 0, 1), flat(dr, GU)) : null,
    ];
    if (w.bias) grads.push(needs[grads.length] ? evalSumTo(op, E.input(0), [dz], [GU]) : null);
    if (hasRB) grads.push(needs[grads.length] ? evalSumTo(op, E.input(0), [dr], [GU]) : null);
    // the initial states: what the first step sent back, and for h also through its recurrent product
    initial?.forEach((_, s) => {
      const i = grads.length;
      grads.push(needs[i] ? (s === 0 ? add(carried[0]!, matmul(stepOf(dr, order[0]!), transposedR())) : carried[s]!) : null);
    });
    return grads;
  }));
}
