// One rank of the data-parallel test (data-parallel.test.ts): a hand-written loop, the global
// batch of 64 split over the ranks, gradients averaged by allReduceGradients. Run alone it is
// the one-process baseline at batch 64. Prints rank 0's weights after 20 Adam steps as JSON.
import * as tsr from '../../src/index.js';

const { rank, worldSize } = tsr.distributed.init({ timeoutSeconds: 30 });
const differ = process.env['TESSERA_TEST_MODE'] === 'different-models' && rank === 1;
// each rank starts from other random weights: syncModel must give them all rank 0's
tsr.setSeed(rank);
const model = tsr.sequential([tsr.layers.dense({ units: differ ? 17 : 16, activation: 'tanh', inputShape: [8] }), tsr.layers.dense({ units: 3 })]);
try {
  await tsr.distributed.syncModel(model);
} catch (e) {
  console.log(JSON.stringify({ rank, error: (e as Error).message }));
  process.exit(0);
}
const optimizer = tsr.optimizers.adam({ learningRate: 1e-2 });
const global = 64, steps = 20, per = global / worldSize;
const x = tsr.randn([global * steps, 8], { seed: 7 }), y = tsr.randint(0, 3, [global * steps], { seed: 8 });
const losses: number[] = [];
for (let step = 0; step < steps; step++) {
  const start = step * global + rank * per;
  const loss = tsr.tidy(() => {
    const l = tsr.crossEntropy(model.apply(x.slice([[start, start + per]])), y.slice([[start, start + per]]));
    l.backward();
    return l.item();
  });
  await tsr.distributed.allReduceGradients(model.parameters(), { bucketBytes: 512 });
  tsr.tidy(() => optimizer.step(model.parameters()));
  model.zeroGrad();
  losses.push(loss);
}
const weights = await Promise.all(model.getWeights().map(async (w) => [...await w.data()]));
if (rank === 0) console.log(JSON.stringify({ rank, worldSize, weights, losses, live: tsr.memory().numTensors }));
tsr.distributed.shutdown();
