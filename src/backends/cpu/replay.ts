// The CPU's replay of a compiled step: every elementwise kernel and reduction resolved to a
// bound function at capture (kernel, offsets, strides, heap addresses), and oneDNN convolutions
// to their primitives; the rest called as is.
import type { Backend, CapturedCall, ConvGeometry, Replayer, ReduceKind, View } from '../backend.js';
import type { ConvPass } from './onednn.js';
import type { Expr } from '../../core/expr.js';
import { planElementwise } from './elementwise.js';

interface Planner {
  planReduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View): (params: readonly number[]) => void;
  planConv(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): () => void;
}

const CONV_PASS = { conv2d: 'forward', conv2dBackwardInput: 'backwardInput', conv2dBackwardFilter: 'backwardFilter' } as const;

const NO_PARAMS: readonly number[] = [];

export function cpuReplayer(backend: Backend & Planner, calls: readonly CapturedCall[]): Replayer {
  const steps = calls.map((c): (() => void) => {
    if (c.prim === 'elementwise') {
      const [exprs, inputs, outs, params = NO_PARAMS] = c.args;
      const run = planElementwise(exprs, inputs, outs);
      // a changing params array is refilled in place before each replay: read it at run time
      return () => run(params);
    }
    if (c.prim === 'reduce') {
      const [kind, expr, inputs, axes, out, params = NO_PARAMS] = c.args;
      const run = backend.planReduce(kind, expr, inputs, axes, out);
      return () => run(params);
    }
    if (c.prim === 'conv2d' || c.prim === 'conv2dBackwardInput' || c.prim === 'conv2dBackwardFilter') {
      const [a, b, out, g] = c.args;
      return backend.planConv(CONV_PASS[c.prim], a, b, out, g);
    }
    const args = c.args as unknown[];
    return () => (backend[c.prim] as (...a: unknown[]) => void).apply(backend, args);
  });
  return {
    how: 'flat list of resolved CPU kernels',
    run() { for (const s of steps) s(); },
    dispose() {},
  };
}
