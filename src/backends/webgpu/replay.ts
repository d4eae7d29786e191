// WebGPU's replay of a compiled step: pipelines and bind groups made once, every dispatch of the
// step encoded into one compute pass and submitted once (command buffers cannot be resubmitted).
// Calls whose scalars change every step, uploads and index checks are encoded as usual.
import type { Backend, CapturedCall, Replayer } from '../backend.js';
import type { GpuRuntime, Recording } from './runtime.js';

export function webgpuReplayer(backend: Backend, rt: GpuRuntime, calls: readonly CapturedCall[]): Replayer {
  const recordings: Recording[] = [];
  const steps = calls.map((c) => {
    const args = c.args as unknown[];
    const direct = () => (backend[c.prim] as (...a: unknown[]) => void).apply(backend, args);
    if (c.changing || c.prim === 'write' || c.prim === 'checkIndices') return direct;
    const r = rt.record(direct);
    if (!r) return direct;
    recordings.push(r);
    const dispatches = r.dispatches;
    return () => { for (const d of dispatches) rt.encodeRecorded(d); };
  });
  return {
    how: 'one compute pass, one submit',
    run() {
      for (const s of steps) s();
      rt.flush();
    },
    dispose() {
      // the meta buffers go once the work already submitted is done
      for (const r of recordings.splice(0)) rt.dropRecording(r);
      rt.flush();
    },
  };
}
