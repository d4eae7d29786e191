// Recording a compiled step: while the step runs eagerly once more, every primitive the devices
// run is logged with its views, between the allocations and frees around it.
import { TesseraError } from '../core/errors.js';
import type { Backend, PrimitiveCall, PrimitiveName, Storage, View } from './backend.js';
import { currentOpLabel } from './trace.js';

export type CaptureEvent =
  | { readonly kind: 'alloc'; readonly storage: Storage }
  | { readonly kind: 'free'; readonly storage: Storage }
  | { readonly kind: 'call'; readonly call: PrimitiveCall; readonly backend: Backend; readonly label: string }
  | { readonly kind: 'host'; readonly step: HostStep };

/** Host work at a point of a step (starting a gradient bucket's reduction), run there at each replay on the views' values then. */
export interface HostStep { readonly views: readonly View[]; readonly run: (views: readonly View[]) => void }

const RECORDED: readonly PrimitiveName[] = ['elementwise', 'reduce', 'matmul', 'im2col', 'col2im', 'conv2d', 'conv2dBackwardInput', 'conv2dBackwardFilter', 'pool2d', 'pool2dBackward', 'gather', 'scatterAdd', 'checkIndices', 'random', 'write'];
/** Primitives that may decline (return false, and the op does the work another way): logged only when they ran. */
const DECLINABLE: ReadonlySet<PrimitiveName> = new Set(['conv2d']);

/** Thrown when a compiled function reads a value on the host: its replay could not. */
export class HostReadInCapture extends TesseraError {}

/** A params array and how to recompute it before each replay. */
export interface ChangingParams { readonly values: number[]; readonly compute: () => readonly number[] }

export class Capture {
  readonly events: CaptureEvent[] = [];
  readonly changing: ChangingParams[] = [];
  /** why this step cannot be replayed, when something in it said so */
  refusal: string | null = null;
  /** devices whose methods are fixed (non-configurable) properties: a step that touches one cannot be recorded */
  readonly unrecorded = new Set<string>();
  private depth = 0;
  private readonly restores: (() => void)[] = [];

  constructor(backends: readonly Backend[]) {
    for (const b of backends) this.patch(b);
  }

  /** Whether every method could be wrapped (a backend whose methods are fixed properties cannot be recorded). */
  private wrappable(b: Backend, names: readonly string[]): boolean {
    return names.every((n) => Object.getOwnPropertyDescriptor(b, n)?.configurable !== false);
  }

  /** Own methods on the backend object that log and call through; nested calls (a primitive built on others) are not logged. */
  private patch(b: Backend): void {
    if (!this.wrappable(b, [...RECORDED, 'alloc', 'free', 'read', 'readSync'])) {
      this.unrecorded.add(b.name);
      return;
    }
    const target = b as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>;
    const saved = new Map<string, PropertyDescriptor | undefined>();
    const wrap = (name: string, make: (original: (...a: unknown[]) => unknown) => (...a: unknown[]) => unknown) => {
      const original = target[name];
      if (typeof original !== 'function') return;
      saved.set(name, Object.getOwnPropertyDescriptor(b, name));
      Object.defineProperty(b, name, { value: make(original.bind(b)), configurable: true, writable: true });
    };
    // a device built on another (a wrapper of the cpu) calls through to it: only the outer call is logged
    const nested = <T>(fn: () => T): T => {
      this.depth++;
      try {
        return fn();
      } finally {
        this.depth--;
      }
    };
    for (const prim of RECORDED) {
      wrap(prim, (original) => (...args) => {
        const outer = this.depth === 0;
        const log = () => this.events.push({ kind: 'call', backend: b, label: currentOpLabel(), call: { prim, args: prim === 'write' ? [args[0], (args[1] as Float32Array).slice()] : args } as PrimitiveCall });
        // a write's data is copied: the caller may reuse its array
        if (outer && !DECLINABLE.has(prim)) log();
        const result = nested(() => original(...args));
        if (outer && DECLINABLE.has(prim) && result === true) log();
        return result;
      });
    }
    wrap('alloc', (original) => (...args) => {
      const outer = this.depth === 0;
      const storage = nested(() => original(...args)) as Storage;
      if (outer) this.events.push({ kind: 'alloc', storage });
      return storage;
    });
    wrap('free', (original) => (storage) => {
      if (this.depth === 0) this.events.push({ kind: 'free', storage: storage as Storage });
      return nested(() => original(storage));
    });
    const refuseRead = () => () => {
      throw new HostReadInCapture('compile', `the compiled function reads a tensor's value on the host (data(), dataSync(), item() or array(), after op '${currentOpLabel()}'); a replayed step cannot wait for values. Return the tensor and read it outside the function`);
    };
    wrap('read', refuseRead);
    wrap('readSync', refuseRead);
    this.restores.push(() => {
      for (const [name, before] of saved) {
        if (before) Object.defineProperty(b, name, before);
        else delete target[name];
      }
    });
  }

  /** Restores the backends' own methods. */
  end(): void {
    for (const restore of this.restores.splice(0)) restore();
    if (active === this) active = null;
  }
}

let active: Capture | null = null;

/** Starts recording the primitives of these backends. */
export function beginCapture(backends: readonly Backend[]): Capture {
  if (active) throw new TesseraError('compile', 'a compiled function was called while another one is being captured; compile the outer function only');
  return (active = new Capture(backends));
}

/** Records a host step at this point of the step being captured; false when none is. */
export function recordHostStep(step: HostStep): boolean {
  active?.events.push({ kind: 'host', step });
  return active !== null;
}

/**
 * Scalars that change from step to step without changing the step (a learning rate, Adam's
 * bias corrections, the random counter). Eagerly: `compute()`. While capturing, the array is
 * also remembered, and before each replay refilled from `compute()`, which may advance host
 * state (an optimizer's step count) as the eager step would.
 */
export function replayParams(compute: () => readonly number[]): number[] {
  const values = [...compute()];
  active?.changing.push({ values, compute });
  return values;
}
