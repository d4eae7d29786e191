// One rank of bench/distributed.ts: tsr.distributed.allReduce (sum) of float32 tensors on the
// CPU at each size given, median seconds per call, printed by rank 0 as "floats seconds".
import * as tsr from '../src/index.js';

const { rank } = tsr.distributed.init();
for (const arg of process.argv.slice(2)) {
  const n = Number(arg), t = tsr.ones([n]);
  const calls = n >= 1 << 22 ? 10 : n >= 1 << 16 ? 50 : 500;
  const times: number[] = [];
  for (let r = 0; r < 7; r++) {
    await tsr.distributed.barrier();
    const start = performance.now();
    for (let c = 0; c < calls; c++) (await tsr.distributed.allReduce(t)).dispose();
    times.push((performance.now() - start) / 1000 / calls);
  }
  times.sort((a, b) => a - b);
  if (rank === 0) console.log(`${n} ${times[3]!.toFixed(9)}`);
  t.dispose();
}
tsr.distributed.shutdown();
