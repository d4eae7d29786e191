// A captured step turned into a plan: the recorded calls over storages the plan owns, the
// step's temporaries packed by lifetime into reused slots, and the device's replay of it.
import { type DType, bytesPerElement } from '../core/dtype.js';
import type { Backend, CapturedCall, PrimitiveCall, Replayer, Storage, View } from './backend.js';
import type { CaptureEvent, ChangingParams, HostStep } from './capture.js';
import { setKernelLabel } from './trace.js';

/** Part of a plan: its calls replayed (null: none), the same call by call for profiles, then its host step. */
interface Segment { readonly replay: Replayer | null; readonly labelled: Replayer & { readonly calls: number }; readonly host?: HostStep }


/** A storage the step allocated: from its allocation to its free (Infinity: it outlives the step). */
interface Temporary { readonly storage: Storage; readonly start: number; end: number; used: boolean; slot?: Slot; madeBy?: string }
interface Slot { readonly dtype: DType; size: number; storage?: Storage }

export class Plan {
  private constructor(
    readonly backend: Backend,
    /** the step's device work between its host steps (one part when it has none) */
    private readonly segments: readonly Segment[],
    private readonly remap: Map<Storage, Storage>,
    private readonly slots: readonly Storage[],
    /** where each replay's arguments are copied */
    readonly inputs: readonly Storage[],
    /** bytes of the slots the plan owns */
    readonly bytes: number,
    readonly calls: number,
  ) {}

  /**
   * Builds the plan, or says why the step cannot be replayed. `inputs` held the arguments during
   * the capture (the plan gets storages of its own for them); `outputs` are the storages of what
   * the step returns; every other storage it allocated must be freed by its end.
   */
  static build(events: readonly CaptureEvent[], inputs: readonly Storage[], outputs: ReadonlySet<Storage>, changing: readonly ChangingParams[]): Plan | { refusal: string } {
    const temporaries: Temporary[] = [];
    const live = new Map<Storage, Temporary>();
    const freedOutside = new Set<Storage>();
    /** storages made before the step that it uses, with the op that first did */
    const readOutside = new Map<Storage, string>();
    let backend: Backend | null = null;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.kind === 'alloc') {
        const t: Temporary = { storage: e.storage, start: i, end: Infinity, used: false };
        temporaries.push(t);
        live.set(e.storage, t);
      } else if (e.kind === 'free') {
        const t = live.get(e.storage);
        if (t) { t.end = i; live.delete(e.storage); }
        else if (readOutside.has(e.storage)) return { refusal: `the step frees a tensor made before it that op '${readOutside.get(e.storage)}' reads (for example gradients kept from the call before: clear them inside the step)` };
        else freedOutside.add(e.storage);
      } else {
        if (e.kind === 'call') {
          if (backend && e.backend !== backend) return { refusal: `the step runs on two devices ('${backend.name}', then '${e.backend.name}' at op '${e.label}'); compile a step on one device` };
          backend = e.backend;
        }
        const label = e.kind === 'call' ? e.label : 'a host step';
        for (const s of e.kind === 'call' ? storagesOf(e.call) : e.step.views.map((v) => v.storage)) {
          const t = live.get(s);
          if (t) { t.used = true; t.madeBy ??= label; }
          else if (freedOutside.has(s)) return { refusal: `op '${label}' uses a tensor the step freed` };
          else if (!readOutside.has(s)) readOutside.set(s, label);
        }
      }
    }
    if (!backend) return { refusal: 'the step runs no device work' };
    for (const t of live.values()) {
      t.used = true;
      if (!outputs.has(t.storage)) return { refusal: `the step leaves tensors alive that it neither returns nor frees (the first from op '${t.madeBy ?? 'unknown'}': state made inside it, such as gradients left on parameters or optimizer moments made on its first call)` };
    }
    const slots = assignSlots(events, temporaries);
    const made = slots.map((s) => (s.storage = backend!.alloc(s.dtype, s.size)));
    // slots that only ever hold temporaries freed within the step: nothing reads them after it
    const kept = new Set(temporaries.filter((t) => t.slot && t.end === Infinity).map((t) => t.slot!.storage!));
    const scratch = new Set(made.filter((s) => !kept.has(s)));
    const remap = new Map<Storage, Storage>();
    for (const t of temporaries) if (t.slot) remap.set(t.storage, t.slot.storage!);
    const ownInputs = inputs.map((s) => {
      const own = backend!.alloc(s.dtype, s.size);
      remap.set(s, own);
      return own;
    });
    const changingArrays = new Set<readonly number[]>(changing.map((c) => c.values));
    // the calls between host steps, each run its own replay, then the host step after it
    const parts: { calls: CapturedCall[]; labels: string[]; host?: HostStep }[] = [{ calls: [], labels: [] }];
    for (const e of events) {
      if (e.kind === 'host') {
        parts.at(-1)!.host = { views: e.step.views.map((v) => viewIn(v, remap)), run: e.step.run };
        parts.push({ calls: [], labels: [] });
      } else if (e.kind === 'call') {
        parts.at(-1)!.calls.push(remapCall(e.call, remap, changingArrays));
        parts.at(-1)!.labels.push(e.label);
      }
    }
    // a slot whose values outlive one part (read across a host step) is no part's scratch
    const hostAt = events.flatMap((e, i) => (e.kind === 'host' ? [i] : []));
    const crossing = new Set(temporaries.filter((t) => t.slot && hostAt.some((h) => t.start < h && h < t.end)).map((t) => t.slot!.storage!));
    const partScratch = parts.length > 1 ? new Set([...scratch].filter((s) => !crossing.has(s))) : scratch;
    const segments = parts.map((part): Segment => {
      let replay: Replayer | null = null;
      if (part.calls.length) {
        try {
          replay = backend!.replayer?.(part.calls, partScratch) ?? callByCall(backend!, part.calls);
        } catch (e) {
          // a device that cannot record its replay (a driver without graphs) still replays, call by call
          replay = callByCall(backend!, part.calls, `${backend!.name} could not record the step (${(e as Error).message}); `);
        }
      }
      return { replay, labelled: callByCall(backend!, part.calls, '', part.labels), host: part.host };
    });
    const bytes = [...slots, ...ownInputs].reduce((n, s) => n + s.size * bytesPerElement(s.dtype), 0);
    return new Plan(backend, segments, remap, made, ownInputs, bytes, segments.reduce((n, g) => n + g.labelled.calls, 0));
  }

  /** How the device replays the step. */
  get how(): string {
    const how = this.segments.find((g) => g.replay)?.replay!.how ?? 'no device work';
    const hosts = this.segments.filter((g) => g.host).length;
    return hosts ? `${how}, in ${this.segments.length} parts around ${hosts} host step${hosts > 1 ? 's' : ''}` : how;
  }

  /** The view a replay leaves a captured view's values in. */
  viewOf(v: View): View {
    const storage = this.remap.get(v.storage);
    return storage ? { ...v, storage } : v;
  }

  /** Replays the step, each host step where it was; under a profile, call by call, so each kernel is timed under its op's label. */
  run(profiled = false): void {
    for (const g of this.segments) {
      (profiled ? g.labelled : g.replay)?.run();
      g.host?.run(g.host.views);
    }
  }

  dispose(): void {
    for (const g of this.segments) g.replay?.dispose();
    for (const s of [...this.slots, ...this.inputs]) this.backend.free(s);
  }
}

/**
 * Lifetime packing: walking the step in order, each temporary takes a free slot of its dtype
 * (the smallest that fits, else the largest, grown) and gives it back when freed, so the plan
 * holds about the step's peak of live temporaries.
 */
function assignSlots(events: readonly CaptureEvent[], temporaries: readonly Temporary[]): Slot[] {
  const byStorage = new Map(temporaries.map((t) => [t.storage, t]));
  const slots: Slot[] = [];
  const free: Slot[] = [];
  for (const e of events) {
    if (e.kind === 'call' || e.kind === 'host') continue;
    const t = byStorage.get(e.storage);
    if (!t || !t.used) continue;
    if (e.kind === 'free') {
      if (t.slot) free.push(t.slot);
      continue;
    }
    const size = t.storage.size, dtype = t.storage.dtype;
    let best = -1;
    for (let k = 0; k < free.length; k++) {
      const s = free[k]!;
      if (s.dtype !== dtype) continue;
      const b = best < 0 ? null : free[best]!;
      const fits = s.size >= size, bestFits = b !== null && b.size >= size;
      if (!b || (fits && (!bestFits || s.size < b.size)) || (!fits && !bestFits && s.size > b.size)) best = k;
    }
    const slot = best >= 0 ? free.splice(best, 1)[0]! : { dtype, size };
    if (best < 0) slots.push(slot);
    slot.size = Math.max(slot.size, size);
    t.slot = slot;
  }
  return slots;
}

function isView(a: unknown): a is View {
  return typeof a === 'object' && a !== null && 'storage' in a && 'strides' in a;
}

/** Every storage a call touches. */
function storagesOf(call: PrimitiveCall): Storage[] {
  if (call.prim === 'write') return [call.args[0]];
  const out: Storage[] = [];
  for (const a of call.args as readonly unknown[]) {
    if (isView(a)) out.push(a.storage);
    else if (Array.isArray(a)) for (const v of a) if (isView(v)) out.push(v.storage);
  }
  return out;
}

/** The view in the plan's own storage where it has one. */
function viewIn(v: View, remap: ReadonlyMap<Storage, Storage>): View {
  const s = remap.get(v.storage);
  return s ? { storage: s, shape: v.shape, strides: v.strides, offset: v.offset } : v;
}

function remapCall(call: PrimitiveCall, remap: ReadonlyMap<Storage, Storage>, changing: ReadonlySet<readonly number[]>): CapturedCall {
  const view = (v: View): View => viewIn(v, remap);
  const args = (call.args as readonly unknown[]).map((a, i) => {
    if (call.prim === 'write' && i === 0) return remap.get(a as Storage) ?? a;
    if (isView(a)) return view(a);
    if (Array.isArray(a) && a.some(isView)) return a.map((v) => (isView(v) ? view(v) : v));
    return a;
  });
  const isChanging = (call.args as readonly unknown[]).some((a) => Array.isArray(a) && changing.has(a as number[]));
  return { prim: call.prim, args, changing: isChanging } as CapturedCall;
}

/**
 * The replay of devices without their own: each recorded call through the backend's method,
 * looked up at each call (a profiler's timer may wrap it for a while), under its label if given.
 */
function callByCall(backend: Backend, calls: readonly CapturedCall[], why = '', labels?: readonly string[]): Replayer & { readonly calls: number } {
  const steps = calls.map((c, i) => {
    const args = c.args as unknown[];
    const label = labels?.[i];
    return () => {
      if (label !== undefined) setKernelLabel(label);
      (backend[c.prim] as (...a: unknown[]) => void).apply(backend, args);
    };
  });
  return {
    how: `${why}call by call`,
    calls: calls.length,
    run() { for (const s of steps) s(); },
    dispose() {},
  };
}
