// tsr.compile: a function of tensors captured once and replayed (no autograd, shape inference
// or kernel lookup per call), with one plan per input signature.
import { contiguousStrides } from '../core/shape.js';
import { TesseraError, fail, shapeStr } from '../core/errors.js';
import { env } from '../core/platform.js';
import * as E from '../core/expr.js';
import type { View } from '../backends/backend.js';
import { beginCapture, recordHostStep } from '../backends/capture.js';
import { Plan } from '../backends/plan.js';
import { availableDevices, getBackend } from '../backends/registry.js';
import { activeCollector, noteOp } from '../backends/trace.js';
import { empty } from '../ops/util.js';
import { isGradEnabled } from './autograd.js';
import { usageOf } from './memory.js';
import { tidy } from './scope.js';
import { Tensor, lentTensor, nextTensorId, observeViews } from './tensor.js';

export interface CompileOptions {
  /** shown in warnings and the profile (default: the function's name) */
  name?: string;
  /** plans kept, one per input signature; the least recently used goes first (default 8) */
  maxPlans?: number;
  /**
   * More of the signature than the inputs' shapes, dtypes and devices: what else would change
   * the recorded work, e.g. `() => String(model.training)` for a function that leaves a model's
   * mode to its caller (fit's steps set it inside), or the ids of the parameters it updates.
   */
  key?: () => string;
}

/** What a compiled function did, for the profile. */
export interface CompileStats {
  /** calls run eagerly: a signature's first call, and every call of a signature that cannot be captured */
  eager: number;
  captures: number;
  replays: number;
  /** signatures that run eagerly, each with its reason */
  fallbacks: string[];
  /** plans held now and the bytes they own */
  plans: number;
  planBytes: number;
  /** how the last plan replays (the device's way), e.g. 'one compute pass' */
  how: string;
}

export interface CompiledFunction<A extends Tensor[], R> {
  (...args: A): R;
  /**
   * Runs the step's device work and its host steps (atReplay) now, and gives a function that
   * copies out what it returns: call that once work its host steps started on the returned
   * tensors is over (a gradient bucket's reduction in place).
   */
  launch(...args: A): () => R;
  readonly stats: CompileStats;
  /** Frees the plans (their inputs and temporaries). */
  dispose(): void;
}

/** Tensors lent to host steps during the replay in progress: disposed when its results are taken. */
let lentNow: Tensor[] | null = null;

/**
 * Host work at this point of a function being compiled: `hook(tensors)` runs now, and in each
 * replay at the same point of the step, on tensors holding what these hold then (for example,
 * starting a gradient bucket's reduction while the rest of backward runs). Work the hook leaves
 * running may only use tensors the function returns: the plan reuses the rest's memory.
 */
export function atReplay(tensors: readonly Tensor[], hook: (tensors: readonly Tensor[]) => void): void {
  const backends = tensors.map((t) => t.backend);
  recordHostStep({
    views: tensors.map((t) => t.storageView),
    run: (views) => {
      const lent = views.map((v, i) => lentTensor(backends[i]!, v));
      lentNow?.push(...lent);
      hook(lent);
    },
  });
  hook(tensors);
}

/** A result's tensors in order, and a way to rebuild the same structure around other tensors. */
function flatten(value: unknown, leaves: Tensor[]): (next: () => Tensor) => unknown {
  if (value instanceof Tensor) { leaves.push(value); return (next) => next(); }
  if (Array.isArray(value)) {
    const parts = value.map((v) => flatten(v, leaves));
    return (next) => parts.map((p) => p(next));
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const parts = Object.entries(value).map(([k, v]) => [k, flatten(v, leaves)] as const);
    return (next) => Object.fromEntries(parts.map(([k, p]) => [k, p(next)]));
  }
  return () => value;
}

const copy = (dtype: Tensor['dtype']) => E.input(0, dtype);

/** Every compiled function's counts together, for profiles. */
const totals = { eager: 0, captures: 0, replays: 0, fallbacks: 0 };
export function compiledTotals(): Readonly<typeof totals> { return { ...totals }; }

interface Entry {
  calls: number;
  plan?: Plan;
  /** views of the returned tensors, in the plan's storages */
  outputs?: { view: View; shape: readonly number[]; dtype: Tensor['dtype'] }[];
  rebuild?: (next: () => Tensor) => unknown;
  /** tensors made before the capture that the step uses (weights, moments): they must stay alive */
  outside?: Tensor[];
  changing?: { values: number[]; compute: () => readonly number[] }[];
  refusal?: string;
}

/**
 * Compiles a function of tensors: a training step (forward, backward and optimizer update) or a
 * forward pass. A signature's first call runs eagerly (state such as optimizer moments is made
 * there), the second is captured, later ones replay. It runs inside tidy(): what it returns
 * lives on (fresh tensors each call), the rest is freed.
 * Reading a value on the host inside (item(), data()) is an error; a step that cannot be
 * replayed (two devices, state it leaves behind) runs eagerly, with the reason shown once.
 * @example const step = tsr.compile((x, y) => { ...; return loss; }); const loss = step(xb, yb);
 */
export function compile<A extends Tensor[], R>(fn: (...args: A) => R, opts: CompileOptions = {}): CompiledFunction<A, R> {
  const name = opts.name ?? (fn.name || 'function');
  const maxPlans = opts.maxPlans ?? 8;
  const entries = new Map<string, Entry>();
  const seen: string[] = [];
  let warnedSignatures = false;
  const stats: CompileStats = { eager: 0, captures: 0, replays: 0, fallbacks: [], plans: 0, planBytes: 0, how: 'none' };

  const warn = (text: string) => { if (!env('TESSERA_QUIET')) console.warn(`tessera: compile(${name}): ${text}`); };

  const signature = (args: readonly Tensor[]): string => {
    const parts = args.map((a, i) => {
      if (!(a instanceof Tensor)) fail(`compile(${name})`, `argument ${i + 1} is not a Tensor; a compiled function takes tensors (close over other values)`);
      return `${a.dtype}[${a.shape.join(',')}]@${a.device}`;
    });
    return `${parts.join(' ')}|grad=${isGradEnabled()}|${opts.key?.() ?? ''}`;
  };

  const drop = (key: string, e: Entry) => {
    if (e.plan) {
      usageOf(e.plan.backend.name).planBytes -= e.plan.bytes;
      stats.plans--;
      stats.planBytes -= e.plan.bytes;
      e.plan.dispose();
    }
    entries.delete(key);
  };

  const capture = (e: Entry, args: A): R => {
    // the capture runs on copies, whose storages the plan replaces by its own: each replay copies the arguments there
    const inputs = args.map(copyOf);
    const firstNew = nextTensorId();
    const outside = new Set<Tensor>();
    const touched = new Set<string>();
    const backends = availableDevices().map(getBackend);
    const cap = beginCapture(backends);
    observeViews((t) => {
      touched.add(t.device);
      if (t.id < firstNew && !inputs.includes(t)) outside.add(t);
    });
    let result: R;
    try {
      result = tidy(() => fn(...(inputs as A)));
    } catch (err) {
      inputs.forEach((t) => t.dispose());
      throw err;
    } finally {
      observeViews(null);
      cap.end();
    }
    const leaves: Tensor[] = [];
    const rebuild = flatten(result, leaves);
    const fixed = [...touched].find((d) => cap.unrecorded.has(d));
    if (fixed) cap.refusal ??= `the device '${fixed}' cannot be recorded: its methods are fixed (non-configurable) properties`;
    const built = cap.refusal ? { refusal: cap.refusal } : Plan.build(cap.events, inputs.map((t) => t.storageView.storage), new Set(leaves.map((t) => t.storageView.storage)), cap.changing);
    if (!('refusal' in built)) {
      Object.assign(e, {
        plan: built, rebuild, changing: cap.changing, outside: [...outside],
        outputs: leaves.map((t) => ({ view: built.viewOf(t.storageView), shape: t.shape, dtype: t.dtype })),
      });
    }
    // a returned argument belongs to the caller now
    inputs.forEach((t) => { if (!leaves.includes(t)) t.dispose(); });
    if ('refusal' in built) {
      e.refusal = built.refusal;
      stats.fallbacks.push(built.refusal);
      totals.fallbacks++;
      warn(`runs eagerly: ${built.refusal}`);
      return result;
    }
    const bytes = built.bytes;
    usageOf(built.backend.name).planBytes += bytes;
    stats.captures++;
    totals.captures++;
    stats.plans++;
    stats.planBytes += bytes;
    stats.how = built.how;
    if (built.how.includes('could not record')) warn(built.how);
    return result;
  };

  /** Replays the plan; the function it returns copies out the results. */
  const replay = (e: Entry, args: A): (() => R) => {
    const plan = e.plan!;
    for (const t of e.outside!) {
      if (t.isDisposed) {
        throw new TesseraError(`compile(${name})`, `the compiled function uses tensor #${t.id} (shape ${shapeStr(t.shape)}, ${t.dtype}), made outside it, which was disposed after the function was captured; keep it alive, or compile the function again`);
      }
    }
    for (const c of e.changing!) {
      const v = c.compute();
      for (let i = 0; i < v.length; i++) c.values[i] = v[i]!;
    }
    noteOp(`${name} (compiled)`, plan.backend.name);
    const backend = plan.backend;
    args.forEach((a, i) => backend.elementwise([copy(a.dtype)], [a.storageView], [{ storage: plan.inputs[i]!, shape: a.shape, strides: contiguousStrides(a.shape), offset: 0 }]));
    const lent: Tensor[] = [];
    lentNow = lent;
    try {
      plan.run(activeCollector() !== null);
    } catch (err) {
      // a host step failed (a rank that never came): no results to take them with
      lent.forEach((t) => t.dispose());
      throw err;
    } finally {
      lentNow = null;
    }
    stats.replays++;
    totals.replays++;
    return () => {
      lent.forEach((t) => t.dispose());
      let k = 0;
      return e.rebuild!(() => {
        const o = e.outputs![k++]!;
        const t = empty(backend, o.shape, o.dtype);
        backend.elementwise([copy(o.dtype)], [o.view], [t.storageView]);
        return t;
      }) as R;
    };
  };

  const launch = (...args: A): (() => R) => {
    const key = signature(args);
    let e = entries.get(key);
    if (e) {
      // most recently used last
      entries.delete(key);
      entries.set(key, e);
    } else {
      if (!seen.includes(key)) seen.push(key);
      if (seen.length > maxPlans && !warnedSignatures) {
        warnedSignatures = true;
        warn(`recapturing: the inputs' shapes changed ${seen.length - 1} times (now ${key.split('|')[0]}); each new signature runs eagerly once and is captured again, and ${maxPlans} plans are kept. Give the inputs fixed shapes (pad or drop the last batch)`);
      }
      entries.set(key, (e = { calls: 0 }));
      if (entries.size > maxPlans) {
        const [oldest, old] = entries.entries().next().value as [string, Entry];
        drop(oldest, old);
      }
    }
    e.calls++;
    if (e.plan) return replay(e, args);
    let result: R;
    if (e.calls === 2 && !e.refusal) result = capture(e, args);
    else {
      stats.eager++;
      totals.eager++;
      result = tidy(() => fn(...args));
    }
    return () => result;
  };
  const compiled = ((...args: A): R => launch(...args)()) as CompiledFunction<A, R>;
  compiled.launch = launch;
  Object.defineProperty(compiled, 'stats', { get: () => ({ ...stats, fallbacks: [...stats.fallbacks] }) });
  compiled.dispose = () => { for (const [k, e] of [...entries]) drop(k, e); };
  return compiled;
}

function copyOf(a: Tensor): Tensor {
  const t = empty(a.backend, a.shape, a.dtype);
  a.backend.elementwise([copy(a.dtype)], [a.storageView], [t.storageView]);
  return t;
}
