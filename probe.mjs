import * as tsr from './dist/src/index.js';
const m = tsr.sequential([
    tsr.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
    tsr.layers.maxPooling2d({ poolSize: 2 }),
    tsr.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
    tsr.layers.maxPooling2d({ poolSize: 2 }),
    tsr.layers.flatten(),
    tsr.layers.dense({ units: 128, activation: 'relu' }),
    tsr.layers.dense({ units: 10 }),
  ]);
const opt = tsr.optimizers.adam();
const x = tsr.rand([64, 28, 28, 1], { seed: 1 }), y = tsr.randint(0, 10, [64], { seed: 2 });
const step = () => tsr.tidy(() => { const loss = tsr.crossEntropy(m.apply(x), y); loss.backward(); opt.step(m.parameters()); m.zeroGrad(); });
for (let i = 0; i < 3; i++) step();
const t = performance.now(); for (let i = 0; i < 10; i++) step(); console.log((performance.now() - t) / 10, 'ms');
