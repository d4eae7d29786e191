// The webgpu device against the CPU backend in one run: matmul GFLOP/s and training-step
// samples/s for the Fashion-MNIST MLP and CNN. On CI machines the adapter is Mesa's lavapipe
// (software), so these figures say nothing about GPU speed; run it on a GPU machine for that.
//   npm run build && node dist/bench/webgpu.js [--sizes 256,512,1024]
import * as tsr from '../src/index.js';
import { header, pad } from './harness.js';
import { model, tesseraStepMs } from './train-step.js';

async function matmulMs(device: string, n: number, calls: number): Promise<number> {
  const a = tsr.rand([n, n], { seed: 1, device }), b = tsr.rand([n, n], { seed: 2, device });
  // warm-up compiles kernels; a read is the device-synchronising point
  await tsr.matmul(a, b).data();
  const t = performance.now();
  let c: tsr.Tensor | undefined;
  for (let i = 0; i < calls; i++) { c?.dispose(); c = tsr.matmul(a, b); }
  await c!.data();
  const ms = (performance.now() - t) / calls;
  c!.dispose(); a.dispose(); b.dispose();
  return ms;
}

async function main(): Promise<void> {
  await tsr.initDevices();
  console.log(header('webgpu vs cpu: matmul and training steps'));
  if (!tsr.availableDevices().includes('webgpu')) {
    console.log(`webgpu unavailable: ${tsr.unavailableDevices()['webgpu']}`);
    return;
  }
  const gpu = tsr.getBackend('webgpu').info();
  console.log(`webgpu adapter: ${gpu.description}`);
  const sizes = (process.argv[process.argv.indexOf('--sizes') + 1] ?? '').split(',').map(Number).filter((n) => n > 0);
  console.log(`\n${'matmul'.padEnd(16)}${pad('cpu GFLOP/s', 13)}${pad('webgpu GFLOP/s', 16)}${pad('webgpu/cpu', 12)}`);
  for (const n of sizes.length ? sizes : [256, 512, 1024]) {
    const cpu = await matmulMs('cpu', n, 5), wg = await matmulMs('webgpu', n, 3);
    const gf = (ms: number) => (2 * n ** 3 / ms / 1e6).toFixed(1);
    console.log(`${`${n}^3`.padEnd(16)}${pad(gf(cpu), 13)}${pad(gf(wg), 16)}${pad((cpu / wg).toFixed(2) + 'x', 12)}`);
  }
  console.log(`\n${'train step'.padEnd(16)}${pad('cpu samples/s', 15)}${pad('webgpu samples/s', 18)}${pad('webgpu/cpu', 12)}`);
  for (const [workload, batch] of [['mlp', 32], ['mlp', 256], ['cnn', 32], ['cnn', 256]] as const) {
    const steps = workload === 'mlp' ? 20 : 2;
    const cpu = tesseraStepMs({ workload, batch, steps, repeats: 3 });
    tsr.setDefaultDevice('webgpu');
    const wg = await stepOnDevice(workload, batch, steps);
    tsr.setDefaultDevice('cpu');
    console.log(`${`${workload} b${batch}`.padEnd(16)}${pad(Math.round(batch / cpu * 1000), 15)}${pad(Math.round(batch / wg * 1000), 18)}${pad((cpu / wg).toFixed(2) + 'x', 12)}`);
  }
  await tsr.releaseDevices();
}

/** Median ms per step on the default device, synchronised by reading the loss each step. */
async function stepOnDevice(workload: 'mlp' | 'cnn', batch: number, steps: number): Promise<number> {
  const runs: number[] = [];
  const m = model(workload), opt = tsr.optimizers.adam();
  const x = tsr.rand(workload === 'mlp' ? [batch, 784] : [batch, 28, 28, 1], { seed: 1 }), y = tsr.randint(0, 10, [batch], { seed: 2 });
  const step = () => tsr.tidy(() => { const l = tsr.crossEntropy(m.apply(x), y); l.backward(); opt.step(m.parameters()); m.zeroGrad(); return l; });
  for (let r = 0; r < 4; r++) {
    const t = performance.now();
    let last: tsr.Tensor | undefined;
    for (let i = 0; i < steps; i++) { last?.dispose(); last = step(); }
    await last!.data();
    last!.dispose();
    if (r > 0) runs.push((performance.now() - t) / steps);
  }
  m.dispose(); opt.dispose(); x.dispose(); y.dispose();
  return runs.sort((a, b) => a - b)[1]!;
}

await main();
