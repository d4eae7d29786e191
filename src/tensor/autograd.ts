// Reverse-mode autodiff: ops attach a node to their output; backward() sweeps the graph in
// reverse topological order, accumulating gradients and reducing them to each input's shape.
import { fail, shapeStr } from '../core/errors.js';
import { inBackward } from '../backends/trace.js';
import { keep, tidy } from './scope.js';
import type { Tensor } from './tensor.js';

/** Gradients for each input given the output's gradient; `needs[i]` says whether to compute input i's. */
export type BackwardFn = (g: Tensor, needs: readonly boolean[]) => readonly (Tensor | null | undefined)[];

export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly backward: BackwardFn;
}

let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

/**
 * Runs fn without recording operations for autograd.
 *
 * @example
 * const y = tsr.noGrad(() => model.forward(x)); // no graph kept
 */
export function noGrad<T>(fn: () => T): T {
  const before = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = before;
  }
}

/** Records how to differentiate `out` if any input requires a gradient. */
export function attachGrad(out: Tensor, op: string, inputs: readonly Tensor[], backward: BackwardFn): Tensor {
  if (enabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/** Hooks the ops layer provides, so this file needs no op imports. */
export interface GradMath {
  onesLike(t: Tensor): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
  alias(t: Tensor): Tensor;
}
let math: GradMath | undefined;
export function setGradMath(m: GradMath): void {
  math = m;
}

/**
 * Runs `fn` with `listener` told of each leaf whose gradient backward has finished (its .grad
 * holds every contribution): data parallelism starts reducing a bucket as soon as its last
 * gradient exists, while backward goes on.
 */
export function onGradReady<T>(listener: (leaf: Tensor) => void, fn: () => T): T {
  const before = gradReady;
  gradReady = listener;
  try {
    return fn();
  } finally {
    gradReady = before;
  }
}
let gradReady: ((leaf: Tensor) => void) | null = null;

export function runBackward(root: Tensor, gradient?: Tensor): void {
  const op = 'backward';
  if (!root.requiresGrad) fail(op, 'this tensor does not require a gradient (create its inputs with requiresGrad: true)');
  if (!gradient && root.size !== 1) {
    fail(op, `called on a tensor of shape ${shapeStr(root.shape)}; only a scalar can start backward without an explicit gradient (reduce it first, e.g. loss.mean(), or pass one)`);
  }
  if (gradient && (gradient.shape.length !== root.shape.length || gradient.shape.some((d, i) => d !== root.shape[i]))) {
    fail(op, `gradient of shape ${shapeStr(gradient.shape)} does not match the tensor's shape ${shapeStr(root.shape)}`);
  }
  const m = math!;
  noGrad(() => tidy(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, gradient ?? m.onesLike(root));
    for (const t of topoOrder(root)) {
      const g = grads.get(t);
      if (!g) continue;
      if (!t.node) {
        const before = t.grad;
        t.grad = keep(before ? m.add(before, g) : m.alias(g));
        before?.dispose();
        // leaves come after every op that uses them, so this gradient is complete
        gradReady?.(t);
        continue;
      }
      const { inputs, backward } = t.node;
      const results = inBackward(t.node.op, t.device, () => backward(g, inputs.map((x) => x.requiresGrad)));
      inputs.forEach((x, i) => {
        const gi = results[i];
        if (!gi || !x.requiresGrad) return;
        const prev = grads.get(x);
        grads.set(x, prev ? m.add(prev, gi) : gi);
      });
    }
  }));
}
