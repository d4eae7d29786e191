// One rank of bench/distributed.ts: tsr.distributed.allReduce (sum) of float32 tensors on the
// CPU at each size given, median seconds per call, a new tensor each call and in place, printed
// by rank 0 as "floats seconds seconds".
import * as tsr from '../src/index.js';

const { rank } = tsr.distributed.init();
for (const arg of process.argv.slice(2)) {
  const n = Number(arg), t = tsr.ones([n]);
  const calls = n >= 1 << 22 ? 10 : n >= 1 << 16 ? 50 : 500;
  const median = async (inPlace: boolean) => {
    const times: number[] = [];
    for (let r = 0; r < 7; r++) {
      await tsr.distributed.barrier();
      const start = performance.now();
      for (let c = 0; c < calls; c++) {
        const out = await tsr.distributed.allReduce(t, 'sum', { inPlace });
        if (!inPlace) out.dispose();
      }
      times.push((performance.now() - start) / 1000 / calls);
    }
    return times.sort((a, b) => a - b)[3]!;
  };
  // the first round warms the JIT (a training loop makes thousands of these calls)
  await median(false); await median(true);
  const fresh = await median(false), inPlace = await median(true);
  if (rank === 0) console.log(`${n} ${fresh.toFixed(9)} ${inPlace.toFixed(9)}`);
  t.dispose();
}
tsr.distributed.shutdown();
