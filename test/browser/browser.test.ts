// tessera in a real browser: the library bundles for the web with no Node built-in, and in
// headless Chromium it trains on the CPU backend and passes `verify` on WebGPU (navigator.gpu,
// here Chromium's SwiftShader adapter).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile, copyFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
const skip = chromium ? false : 'no Chromium on this machine (.ci/run installs Debian\'s chromium)';

it('bundles for the browser without Node built-ins', async () => {
  const result = await build({ entryPoints: [root('dist/src/index.js')], bundle: true, format: 'esm', platform: 'browser', write: false, metafile: true, logLevel: 'silent' });
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(inputs.some((f) => f.endsWith('backends/webgpu/webgpu-backend.js')));
  assert.deepEqual(inputs.filter((f) => /^node:|koffi|onnxruntime/.test(f)), []);
});

it('trains on the CPU and passes verify on WebGPU in headless Chromium', { skip, timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-browser-'));
  await build({ entryPoints: [root('dist/src/index.js')], bundle: true, format: 'esm', platform: 'browser', outfile: join(dir, 'tessera.js'), logLevel: 'silent' });
  await copyFile(root('test/browser/page.html'), join(dir, 'index.html'));
  let chrome: ReturnType<typeof spawn> | undefined;
  let log = '';
  const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const server = http.createServer((req, res) => {
      if (req.method === 'POST') {
        let body = '';
        req.on('data', (c) => { body += c; });
        req.on('end', () => { res.end(); server.close(); resolve(JSON.parse(body)); });
        return;
      }
      const file = join(dir, req.url === '/' ? 'index.html' : req.url!.slice(1));
      try {
        const data = readFileSync(file);
        res.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : 'text/html');
        res.end(data);
      } catch {
        res.statusCode = 404;
        res.end();
      }
    }).listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      chrome = spawn(chromium!, [
        '--headless=new', '--no-sandbox', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`,
        // no connections to the outside: this machine's network is closed
        '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
        // WebGPU on Chromium's built-in software Vulkan, so no GPU or driver is needed
        '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader',
        `http://127.0.0.1:${port}/`,
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      chrome.stderr!.on('data', (c) => { log = (log + c).slice(-4000); });
      chrome.once('exit', (code) => reject(new Error(`chromium exited (${code}) before the page reported:\n${log}`)));
    });
    setTimeout(() => reject(new Error(`no report from the page within 100 s:\n${log}`)), 100_000).unref();
  }).finally(() => chrome?.kill());
  await writeFile(join(dir, 'result.json'), JSON.stringify(result, null, 2));
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
});
