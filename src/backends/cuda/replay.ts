// CUDA's replay of a compiled step: runs of calls recorded into CUDA graphs (one cuGraphLaunch
// each); calls whose scalars change every step (an optimizer update, a random draw) and host
// uploads launch as usual between them, since a graph holds its kernels' arguments by value.
import type { Backend, CapturedCall, Replayer } from '../backend.js';
import type { CudaGraph, CudaRuntime } from './runtime.js';

/** Calls a graph can hold: fixed arguments, no host memory, no host-side bookkeeping. */
const graphable = (c: CapturedCall) => !c.changing && c.prim !== 'write' && c.prim !== 'checkIndices';

export function cudaReplayer(backend: Backend, rt: CudaRuntime, calls: readonly CapturedCall[]): Replayer {
  const direct = (c: CapturedCall) => {
    const args = c.args as unknown[];
    return () => (backend[c.prim] as (...a: unknown[]) => void).apply(backend, args);
  };
  const graphs: CudaGraph[] = [];
  const steps: (() => void)[] = [];
  let outside = 0;
  try {
    for (let i = 0; i < calls.length;) {
      if (!graphable(calls[i]!)) {
        steps.push(direct(calls[i++]!));
        outside++;
        continue;
      }
      const run: (() => void)[] = [];
      while (i < calls.length && graphable(calls[i]!)) run.push(direct(calls[i++]!));
      const g = rt.recordGraph(() => { for (const r of run) r(); });
      graphs.push(g);
      steps.push(() => rt.launchGraph(g));
    }
  } catch (e) {
    for (const g of graphs) rt.destroyGraph(g);
    throw e;
  }
  return {
    how: `CUDA graph (${graphs.length} graph${graphs.length === 1 ? '' : 's'}, ${outside} launch${outside === 1 ? '' : 'es'} between)`,
    run() { for (const s of steps) s(); },
    dispose() { for (const g of graphs.splice(0)) rt.destroyGraph(g); },
  };
}
