// The CPU heap: freed neighbours merge, the top gives bytes back, varying sizes do not
// fragment it, and out of memory says what was asked for, what is live and what is free.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { WasmHeap, blockSize, heap } from '../../src/backends/cpu/heap.js';

describe('CPU heap', () => {
  // a new heap commits 1 MiB: blocks are merged when a request would otherwise grow it
  const MiB = 1 << 20;

  it('reuses a freed block of the same size at once; merges freed neighbours before growing', () => {
    const h = new WasmHeap();
    const a = h.alloc(300_000), b = h.alloc(300_000), c = h.alloc(300_000), guard = h.alloc(16);
    h.free(b, 300_000);
    assert.equal(h.alloc(300_000), b, 'an exact size comes straight back');
    h.free(a, 300_000);
    h.free(c, 300_000);
    h.free(b, 300_000);
    // 800 kB does not fit above the guard in 1 MiB: a, b and c merge into one block that does
    assert.equal(h.alloc(800_000), a);
    assert.equal(h.stats().committed, MiB, 'no growth');
    assert.equal(h.stats().used, 800_000 + blockSize(16));
    assert.ok(guard > c);
  });

  it('a free run at the top is given back; the best-fitting merged block is taken', () => {
    const h = new WasmHeap();
    const a = h.alloc(4096), small = h.alloc(64), b = h.alloc(512), guard = h.alloc(16);
    for (const [at, bytes] of [[guard, 16], [b, 512], [a, 4096], [small, 64]] as const) h.free(at, bytes);
    // everything freed runs up to the top: merging brings the top down to a, where this fits
    assert.equal(h.alloc(MiB - 200), a);
    assert.equal(h.stats().committed, MiB);
    const h2 = new WasmHeap();
    const big = h2.alloc(400_000), g1 = h2.alloc(16), mid = h2.alloc(200_000), g2 = h2.alloc(16);
    h2.alloc(MiB - 600_000 - 1000);
    h2.free(big, 400_000);
    h2.free(mid, 200_000);
    assert.equal(h2.alloc(150_000), mid, 'the 200 kB block fits 150 kB better than the 400 kB one');
    assert.equal(h2.stats().committed, MiB);
    assert.ok(g1 < mid && mid < g2);
  });

  it('varying sizes keep the heap bounded: 2,000 random alloc/free rounds stay under twice the peak in use', () => {
    const h = new WasmHeap();
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const live: [number, number][] = [];
    for (let i = 0; i < 2000; i++) {
      if (live.length > 20 || (live.length && random() < 0.45)) {
        const [at, bytes] = live.splice(Math.floor(random() * live.length), 1)[0]!;
        h.free(at, bytes);
      } else {
        const bytes = 16 + Math.floor(random() * 200_000);
        live.push([h.alloc(bytes), bytes]);
      }
    }
    const s = h.stats();
    assert.ok(s.reserved <= 2 * s.peak, `reserved ${s.reserved} > 2 x peak ${s.peak}`);
    // merged and split blocks too start on cache lines (copies between blocks then run line to line)
    assert.deepEqual(live.filter(([at]) => at % 64 !== 0), []);
  });

  it('out of memory names the request, the live bytes and the free bytes', () => {
    const h = new WasmHeap();
    h.alloc(1 << 20);
    assert.throws(() => h.alloc(2 ** 32), (e: Error) => e instanceof tsr.TesseraError
      && /cpu: out of memory: 4294967296 bytes requested; 1048576 bytes in use by live tensors, 0 more in freed blocks too small for it\. A CPU heap holds at most 4 GiB/.test(e.message));
    assert.equal(h.stats().used, 1 << 20, 'a failed request is not counted as in use');
  });

  it('predicting with batch sizes 1..300 and training 3,000 steps at batch sizes 1..512 keep reserved memory under twice the peak', async () => {
    tsr.setSeed(0);
    const m = tsr.sequential([tsr.layers.dense({ units: 256, activation: 'relu', inputShape: [64] }), tsr.layers.dense({ units: 10 })]);
    m.compile({ optimizer: 'adam', loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }) });
    const x = tsr.randn([512, 64], { seed: 1 }), y = tsr.randint(0, 10, [512], { seed: 2 });
    for (let b = 1; b <= 300; b++) m.predict(x, { batchSize: b }).dispose();
    let seed = 3;
    for (let step = 0; step < 3000; step++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const n = 1 + (seed % 512);
      const r = m.trainStep(x.slice([[0, n]]), y.slice([[0, n]]));
      r.loss.dispose();
    }
    const s = heap.stats();
    assert.ok(s.reserved <= 2 * s.peak, `reserved ${s.reserved} > 2 x peak ${s.peak}`);
    const mem = tsr.memory().devices['cpu']!;
    assert.equal(mem.reservedBytes, s.reserved, 'tsr.memory() reports the heap');
    m.optimizer?.dispose(); m.dispose(); x.dispose(); y.dispose();
  });
});
