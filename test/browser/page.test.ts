// The browser page (`tessera serve`) in headless Chromium: it trains the MLP for an epoch on the
// shipped sample on WebGPU (SwiftShader here) and on the CPU, draws its charts, passes verify,
// compares the devices, and meets a tab without WebGPU, a lost device and a batch too large for
// the device with a message and the CPU on offer, never freezing.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { PAGE_DIR } from '../../src/cli/serve.js';
import { type ServedFolder, serveFolder } from '../../src/cli/static-server.js';
import { launchChromium, noChromium } from '../helpers/chromium.js';

const skip = noChromium;
/** Where screenshots of the trained page go (TESSERA_SCREENSHOTS to keep them). */
const shots = process.env['TESSERA_SCREENSHOTS'] ?? join(tmpdir(), 'tessera-page-shots');

let browser: Browser, served: ServedFolder;
before(async () => {
  if (skip) return;
  served = await serveFolder(PAGE_DIR, '127.0.0.1', 0);
  browser = await launchChromium();
  await mkdir(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await served?.close();
});

const byId = (id: string) => `#${id}`;

/** The page, ready to train, with every console error and uncaught exception it shows. */
/** A browser without WebGPU: the worker's navigator has no gpu. */
const NO_WEBGPU = `Object.defineProperty(WorkerNavigator.prototype, 'gpu', { get: () => undefined });`;
/** A GPU with WebGPU's default limits (many laptop and phone GPUs): buffers of at most 128 MiB. */
const SMALL_GPU = `{
  const request = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = function (d) {
    return request.call(this, { ...d, requiredLimits: { ...d?.requiredLimits, maxStorageBufferBindingSize: 134217728, maxBufferSize: 134217728 } });
  };
}`;

/** The page, ready to train, with every console error and uncaught exception it shows; `worker` runs in the worker before tessera. */
async function openPage(opts: { worker?: string } = {}): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  if (opts.worker) {
    await page.route('**/app/worker.js', async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, body: `${opts.worker}\n${await response.text()}` });
    });
  }
  await page.goto(served.url);
  await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
  return { page, errors };
}

/** Runs `body` on a fresh page, then checks that the page logged no error and closes it. */
async function withPage(opts: { worker?: string }, body: (page: Page) => Promise<void>): Promise<void> {
  const { page, errors } = await openPage(opts);
  try {
    await body(page);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await page.close();
  }
}

/** Clicks Verify and asserts that every check passed on the device chosen. */
async function verifyPasses(page: Page): Promise<void> {
  await page.click(byId('verify'));
  await page.waitForFunction(() => ['pass', 'fail'].includes(document.getElementById('verify-results')!.dataset['status']!), null, { timeout: 120_000 });
  assert.equal(await page.getAttribute(byId('verify-results'), 'data-status'), 'pass', (await page.textContent(byId('verify-results'))) + await noticeText(page));
  assert.equal((await page.$$('#verify-results td.ok')).length, 3);
}

/** Resolves when training ends: with the test accuracy, or null when the page shows a problem instead. */
async function trained(page: Page, timeout = 240_000): Promise<number | null> {
  await page.waitForFunction(() => document.getElementById('test-accuracy')!.dataset['value'] !== undefined || !document.getElementById('notice')!.hidden, null, { timeout });
  const value = await page.getAttribute(byId('test-accuracy'), 'data-value');
  return value === null ? null : Number(value);
}

async function startTraining(page: Page, settings: { model?: string; device: string; epochs?: number; batchSize?: number }): Promise<void> {
  await page.selectOption(byId('model'), settings.model ?? 'mlp');
  await page.selectOption(byId('device'), settings.device);
  await page.fill(byId('epochs'), String(settings.epochs ?? 1));
  await page.fill(byId('batch-size'), String(settings.batchSize ?? 32));
  await page.click(byId('train'));
}

/**
 * The page's thread runs a task within half a second (training runs in its worker). Frames are
 * not what is timed: here SwiftShader renders WebGPU and the page in one GPU process, so a
 * busy device delays frames however free the page's thread is.
 */
async function assertResponsive(page: Page): Promise<void> {
  const waited = await page.evaluate(() => new Promise<number>((resolve) => {
    const t = performance.now();
    setTimeout(() => resolve(performance.now() - t), 0);
  }));
  assert.ok(waited < 500, `a task on the page's thread waited ${Math.round(waited)} ms`);
}

/** Live tensors and bytes per device in the page's worker, once collected garbage is finalised. */
async function liveTensors(page: Page): Promise<string> {
  const [worker] = page.workers();
  return worker!.evaluate(async () => {
    const t = (globalThis as unknown as { tessera: { memory(): { numTensors: number; devices: Record<string, { tensors: number; bytes: number }> } } }).tessera;
    const gc = (globalThis as { gc?: () => void }).gc!;
    let last = '', quiet = 0;
    for (let i = 0; i < 60 && quiet < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
      const m = t.memory(), now = JSON.stringify({ tensors: m.numTensors, devices: m.devices });
      quiet = now === last ? quiet + 1 : 0;
      last = now;
    }
    return last;
  });
}

const points = async (page: Page, id: string) => Number(await page.getAttribute(byId(id), 'data-points'));
const noticeText = async (page: Page) => ((await page.isVisible(byId('notice'))) ? (await page.textContent(byId('notice'))) ?? '' : '');

for (const device of ['webgpu', 'cpu']) {
  it(`trains the MLP for an epoch on ${device}, draws it, and passes verify`, { skip, timeout: 300_000 }, () => withPage({}, async (page) => {
    assert.match((await page.textContent(byId('status')))!, /6,000 training and 1,000 test images/);
    await startTraining(page, { device });
    await assertResponsive(page);
    const accuracy = await trained(page);
    assert.notEqual(accuracy, null, await noticeText(page));
    assert.ok(accuracy! > 0.75, `test accuracy ${accuracy}`);
    assert.match((await page.textContent(byId('status')))!, new RegExp(`Trained on ${device === 'webgpu' ? 'WebGPU' : 'the CPU'}`));
    // the train curve and the validation point of both charts, and the 24 test images
    for (const chart of ['loss-chart', 'accuracy-chart']) assert.ok(await points(page, chart) >= 2, `${chart} drew ${await points(page, chart)} points`);
    assert.equal(await points(page, 'grid'), 24);
    await verifyPasses(page);
    await page.screenshot({ path: join(shots, `trained-${device}.png`), fullPage: true });
    // a second run leaves exactly what the first left: no tensor or device buffer kept per run
    const afterOne = await liveTensors(page);
    assert.match(afterOne, /"tensors":[4-9]/, 'the four tensors of the sample stay alive');
    await page.click(byId('train'));
    assert.notEqual(await trained(page), null, await noticeText(page));
    assert.equal(await liveTensors(page), afterOne);
  }));
}

it('compares WebGPU with the CPU at four batch sizes and says where each wins', { skip, timeout: 300_000 }, () => withPage({}, async (page) => {
  await page.click(byId('compare'));
  await assertResponsive(page);
  await page.waitForFunction(() => document.getElementById('compare-summary')!.textContent !== '' || !document.getElementById('notice')!.hidden, null, { timeout: 240_000 });
  assert.equal(await noticeText(page), '');
  assert.equal(await points(page, 'compare-chart'), 4);
  const log = (await page.textContent(byId('compare-log')))!;
  for (const batch of [16, 64, 256, 1024]) for (const device of ['cpu', 'webgpu']) assert.match(log, new RegExp(`batch ${batch} on ${device}: [\\d.]+ ms per step`));
  assert.match((await page.textContent(byId('compare-summary')))!, /WebGPU is faster at .*; the CPU at .*\./);
}));

it('without WebGPU says why, trains on the CPU, and stops when asked', { skip, timeout: 120_000 }, () => withPage({ worker: NO_WEBGPU }, async (page) => {
  assert.match(await noticeText(page), /WebGPU is not available in this tab \(this browser has no navigator.gpu \(WebGPU\)\), so training runs on the CPU/);
  assert.equal(await page.inputValue(byId('device')), 'cpu');
  assert.equal(await page.$eval('#device option[value=webgpu]', (o) => (o as HTMLOptionElement).disabled), true);
  assert.equal(await page.isDisabled(byId('compare')), true);
  await startTraining(page, { device: 'cpu', epochs: 20 });
  await page.waitForFunction(() => Number(document.getElementById('loss-chart')!.dataset['points']) > 0, null, { timeout: 60_000 });
  await page.click(byId('stop'));
  assert.ok((await trained(page, 60_000))! > 0);
  assert.match((await page.textContent(byId('status')))!, /^Stopped on the CPU/);
}));

/** Starts WebGPU training and, once the chart moves, destroys tessera's GPUDevice under it (what a driver reset does). */
async function loseDeviceWhileTraining(page: Page): Promise<string> {
  await startTraining(page, { device: 'webgpu', epochs: 3 });
  await page.waitForFunction(() => Number(document.getElementById('loss-chart')!.dataset['points']) > 0, null, { timeout: 120_000 });
  const [worker] = page.workers();
  await worker!.evaluate(() => (globalThis as unknown as { tessera: { getBackend(n: string): { runtime: { device: GPUDevice } } } }).tessera.getBackend('webgpu').runtime.device.destroy());
  await page.waitForFunction(() => !document.getElementById('notice')!.hidden, null, { timeout: 60_000 });
  await assertResponsive(page);
  return noticeText(page);
}

it('a GPU device lost mid-training: the page says so, reopens WebGPU, or trains on the CPU instead', { skip, timeout: 300_000 }, () => withPage({}, async (page) => {
  assert.match(await loseDeviceWhileTraining(page), /The GPU device was lost during training \(webgpu: the GPU device was lost \(destroyed: Device was destroyed\.\)/);
  assert.equal(await page.$eval('#device option[value=webgpu]', (o) => (o as HTMLOptionElement).disabled), true);
  await page.click('#notice-actions button:text("Reopen WebGPU")');
  await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
  assert.equal(await page.$eval('#device option[value=webgpu]', (o) => (o as HTMLOptionElement).disabled), false);
  await page.selectOption(byId('device'), 'webgpu');
  await verifyPasses(page);

  await loseDeviceWhileTraining(page);
  await page.click('#notice-actions button:text("Train on the CPU")');
  const accuracy = await trained(page);
  assert.ok(accuracy !== null && accuracy > 0.75, `${accuracy} ${await noticeText(page)}`);
  assert.equal(await page.inputValue(byId('device')), 'cpu');
}));

it('a batch too large for the GPU: the page names the limit and offers a smaller batch and the CPU', { skip, timeout: 300_000 }, () => withPage({ worker: SMALL_GPU }, async (page) => {
  // 8192 is larger than the sample, so the batch is all 5,400 images: the first convolution's
  // im2col alone (5,400 x 28 x 28 x 9 floats) passes 128 MiB
  await startTraining(page, { model: 'cnn', device: 'webgpu', batchSize: 8192 });
  assert.equal(await trained(page, 120_000), null);
  await assertResponsive(page);
  const text = await noticeText(page);
  assert.match(text, /Batch size 8192 is too large for this GPU: webgpu: out of memory: a tensor of \d+ bytes exceeds the device's largest storage buffer \(134217728 bytes\)/);
  const offers = await page.$$eval('#notice-actions button', (bs) => bs.map((b) => b.textContent));
  assert.deepEqual(offers, ['Use batch 1024', 'Train on the CPU']);
  // the device still works after the failed allocation
  await verifyPasses(page);
}));
