// nextMacrotask, the yield fit uses: a new macrotask at once, in Node and where only MessageChannel exists.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { nextMacrotask } from '../../src/core/platform.js';

/** The order in which a microtask, nextMacrotask and a 20 ms timer settle, started in that order. */
async function order(): Promise<string[]> {
  const seen: string[] = [];
  const timer = new Promise<void>((resolve) => setTimeout(() => { seen.push('timer'); resolve(); }, 20));
  const next = nextMacrotask().then(() => { seen.push('next'); });
  const micro = Promise.resolve().then(() => { seen.push('microtask'); });
  await Promise.all([timer, next, micro]);
  return seen;
}

describe('nextMacrotask', () => {
  it('resolves in a new macrotask, after the microtasks and long before a timer (setImmediate in Node)', async () => {
    assert.deepEqual(await order(), ['microtask', 'next', 'timer']);
  });

  it('without setImmediate (browsers) it takes a MessageChannel message, first come first served', async () => {
    const immediate = globalThis.setImmediate;
    (globalThis as { setImmediate?: unknown }).setImmediate = undefined;
    try {
      assert.deepEqual(await order(), ['microtask', 'next', 'timer']);
      const settled: number[] = [];
      await Promise.all([1, 2, 3].map((k) => nextMacrotask().then(() => { settled.push(k); })));
      assert.deepEqual(settled, [1, 2, 3]);
    } finally {
      globalThis.setImmediate = immediate;
    }
  });
});
