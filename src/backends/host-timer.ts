// Kernel timing by the host clock, for devices that run each primitive synchronously (the CPU):
// while timing, the backend's primitives are wrapped so each call's duration is recorded.
import type { Backend, KernelTimer } from './backend.js';
import { currentOpLabel } from './trace.js';

const PRIMITIVES = ['write', 'elementwise', 'reduce', 'matmul', 'im2col', 'col2im', 'conv2d', 'conv2dBackwardInput', 'conv2dBackwardFilter', 'pool2d', 'pool2dBackward', 'gather', 'scatterAdd', 'random'] as const;

export function hostClockTimer(backend: Backend): KernelTimer {
  const target = backend as unknown as Record<string, unknown>;
  let depth = 0;
  // methods the instance itself defines, put back as they were on stop()
  const own = new Map<string, unknown>();
  return {
    clock: 'host clock (synchronous kernels)',
    start(record) {
      for (const name of PRIMITIVES) {
        const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
        // optional primitives the device does not have stay absent
        if (typeof original !== 'function') continue;
        if (Object.hasOwn(target, name)) own.set(name, original);
        // an own property shadows the prototype's method until stop()
        target[name] = (...args: unknown[]) => {
          const t0 = performance.now();
          depth++;
          try {
            return original.apply(backend, args);
          } finally {
            // a primitive built on another one is timed once, at the outermost call
            if (--depth === 0) record(currentOpLabel(), performance.now() - t0);
          }
        };
      }
    },
    async stop() {
      for (const name of PRIMITIVES) {
        if (own.has(name)) target[name] = own.get(name);
        else if (Object.hasOwn(target, name)) delete target[name];
      }
      own.clear();
    },
  };
}
