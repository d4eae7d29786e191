// The browser page's figures in headless Chromium, beside Node's CPU backend in the same run:
// one epoch of the MLP on the shipped sample on each device (samples/s), and the page's "GPU vs
// CPU" step times at four batch sizes, with Node's CPU backend (system BLAS) as the baseline.
// Usage: node dist/bench/browser.js   (needs Debian's chromium; WebGPU there is SwiftShader)
import { trainStepMs } from '../src/devices/bench.js';
import { PAGE_DIR } from '../src/cli/serve.js';
import { serveFolder } from '../src/cli/static-server.js';
import * as tsr from '../src/index.js';
import { FASHION_MODELS } from '../src/train/fashion-models.js';
import { launchChromium, noChromium } from '../test/helpers/chromium.js';
import { header, pad } from './harness.js';

if (noChromium) throw new Error(noChromium);

/** The page's own settings: one epoch, batch 32, 10% held out, Adam at the recipe's rate. */
async function nodeEpoch(): Promise<{ samplesPerSec: number; accuracy: number }> {
  const data = await tsr.datasets.fashionMnist({ dir: new URL('../../data/fashion-mnist-sample', import.meta.url).pathname });
  tsr.setSeed(0);
  const recipe = FASHION_MODELS.mlp, model = recipe.build();
  model.compile({ optimizer: tsr.optimizers.adam({ learningRate: recipe.learningRate }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
  const t = performance.now();
  await model.fit(data.train.images, data.train.labels, { epochs: 1, batchSize: 32, validationSplit: 0.1, verbose: 0 });
  const seconds = (performance.now() - t) / 1000;
  const test = await model.evaluate(data.test.images, data.test.labels, { batchSize: 256 });
  model.dispose();
  return { samplesPerSec: 5400 / seconds, accuracy: test['accuracy']! };
}

console.log(header('the browser page (headless Chromium) against Node\'s CPU backend'));
const served = await serveFolder(PAGE_DIR, '127.0.0.1', 0);
const browser = await launchChromium();
console.log(`browser: Chromium ${browser.version()} (headless; WebGPU on SwiftShader, a software Vulkan)`);
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(served.url);
  await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
  console.log(`page: ${await page.textContent('#status')}`);
  console.log('\none epoch of the MLP on the sample (5,400 images, batch 32), fit as the page runs it');
  const node = await nodeEpoch();
  console.log(`  node cpu (system BLAS):       ${pad(Math.round(node.samplesPerSec), 7)} samples/s, test accuracy ${node.accuracy.toFixed(4)}`);
  for (const device of ['cpu', 'webgpu']) {
    await page.selectOption('#device', device);
    await page.click('#train');
    await page.waitForFunction(() => document.getElementById('test-accuracy')!.dataset['value'] !== undefined, null, { timeout: 600_000 });
    const speed = Number((await page.textContent('#fig-speed'))!.replace(/,/g, ''));
    console.log(`  browser ${device.padEnd(22)} ${pad(speed, 7)} samples/s, test accuracy ${Number(await page.getAttribute('#test-accuracy', 'data-value')).toFixed(4)} (${(speed / node.samplesPerSec).toFixed(2)}x node cpu)`);
  }

  console.log('\n"GPU vs CPU": ms per MLP training step (median of 3 x 5 steps after 300 ms of warm-up)');
  await page.selectOption('#model', 'mlp');
  await page.click('#compare');
  await page.waitForFunction(() => document.getElementById('compare-summary')!.textContent !== '', null, { timeout: 600_000 });
  const log = (await page.textContent('#compare-log'))!;
  const ms = (batch: number, device: string) => Number(new RegExp(`batch ${batch} on ${device}: ([\\d.]+) ms`).exec(log)![1]);
  console.log(`${pad('batch', 6)} ${pad('browser cpu', 12)} ${pad('browser webgpu', 15)} ${pad('node cpu', 9)} ${pad('webgpu speed-up', 16)} ${pad('browser cpu speed vs node', 26)}`);
  for (const batch of [16, 64, 256, 1024]) {
    const nodeMs = await trainStepMs('cpu', 'mlp', batch, { steps: 5, warmupSteps: 3, repeats: 3, warmupMs: 300 });
    const cpu = ms(batch, 'cpu'), gpu = ms(batch, 'webgpu');
    console.log(`${pad(batch, 6)} ${pad(cpu.toFixed(1), 12)} ${pad(gpu.toFixed(1), 15)} ${pad(nodeMs.toFixed(1), 9)} ${pad(`${(cpu / gpu).toFixed(2)}x`, 16)} ${pad(`${(nodeMs / cpu).toFixed(2)}x`, 26)}`);
  }
  console.log(`page says: ${await page.textContent('#compare-summary')}`);
} finally {
  await browser.close();
  await served.close();
}
