// A training loop written by hand: forward, backward, optimizer step, with a cosine schedule
// and gradient clipping. tidy() frees each step's temporaries.
//   npm run build && node dist/examples/custom-training-loop.js [steps]
import * as tsr from 'tessera';

const steps = Number(process.argv[2] ?? 2000);
const batchSize = 64;
const { train, test } = await tsr.datasets.fashionMnist();
const x = train.images.reshape([-1, 784]);

class Mlp extends tsr.Model {
  hidden = tsr.layers.dense({ units: 256, activation: 'gelu' });
  norm = tsr.layers.layerNormalization();
  out = tsr.layers.dense({ units: 10 });
  forward(input: tsr.Tensor): tsr.Tensor {
    return this.out.apply(this.norm.apply(this.hidden.apply(input)));
  }
}

tsr.setSeed(0);
const model = new Mlp();
const opt = tsr.optimizers.adamw({ learningRate: tsr.optimizers.cosineDecay(2e-3, steps, { warmupSteps: 100 }), clipNorm: 1 });
const n = x.shape[0]!;
for (let step = 0; step < steps; step++) {
  const start = (step * batchSize) % (n - batchSize);
  const loss = tsr.tidy(() => {
    const l = tsr.crossEntropy(model.apply(x.slice([[start, start + batchSize]])), train.labels.slice([[start, start + batchSize]]));
    l.backward();
    opt.step(model.parameters());
    model.zeroGrad();
    return l.item();
  });
  if (step % 200 === 0 || step === steps - 1) console.log(`step ${step}: loss ${loss.toFixed(4)}, lr ${opt.learningRate.toExponential(2)}`);
}

const accuracy = tsr.tidy(() => {
  const pred = tsr.noGrad(() => model.eval().apply(test.images.reshape([-1, 784])));
  return tsr.equal(pred.argmax(1), test.labels).cast('float32').mean().item();
});
console.log(`test accuracy ${accuracy.toFixed(4)}; live tensors ${tsr.memory().numTensors}`);
