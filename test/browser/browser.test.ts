// tessera in a real browser: the library bundles for the web with no Node built-in, and in
// headless Chromium it trains on the CPU backend and passes `verify` on WebGPU (navigator.gpu,
// here Chromium's SwiftShader adapter).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { serveFolder } from '../../src/cli/static-server.js';
import { launchChromium, noChromium } from '../helpers/chromium.js';

const root = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url));

it('bundles for the browser without Node built-ins', async () => {
  const result = await build({ entryPoints: [root('dist/src/index.js')], bundle: true, format: 'esm', platform: 'browser', write: false, metafile: true, logLevel: 'silent' });
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(inputs.some((f) => f.endsWith('backends/webgpu/webgpu-backend.js')));
  assert.deepEqual(inputs.filter((f) => /^node:|koffi|onnxruntime/.test(f)), []);
});

it('trains on the CPU and passes verify on WebGPU in headless Chromium', { skip: noChromium, timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-browser-'));
  await build({ entryPoints: [root('dist/src/index.js')], bundle: true, format: 'esm', platform: 'browser', outfile: join(dir, 'tessera.js'), logLevel: 'silent' });
  await copyFile(root('test/browser/page.html'), join(dir, 'index.html'));
  const served = await serveFolder(dir, '127.0.0.1', 0);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(served.url);
    await page.waitForFunction(() => (window as { report?: unknown }).report !== undefined, null, { timeout: 100_000 });
    const result = await page.evaluate(() => (window as unknown as { report: Record<string, unknown> }).report);
    assert.equal(result['error'], undefined, String(result['error']));
    assert.deepEqual(result['cpuMatmul'], [7, 10, 15, 22]);
    const loss = result['cpuLoss'] as number[];
    assert.equal(loss.length, 2);
    assert.ok(loss.every(Number.isFinite));
    const devices = result['devices'] as { name: string; available: boolean; description: string | null }[];
    const webgpu = devices.find((d) => d.name === 'webgpu')!;
    assert.ok(webgpu.available, JSON.stringify(devices));
    const verify = result['verify'] as { check: string; ok: boolean; kernels: number; problem: string | null }[];
    assert.equal(verify.length, 3);
    for (const v of verify) assert.ok(v.ok && v.kernels > 0, `${v.check}: ${v.problem}`);
  } finally {
    await browser.close();
    await served.close();
  }
});
