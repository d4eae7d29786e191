// `tessera serve`: the built page and its data on localhost, nothing outside its folder, and
// clear errors for a bad port or an unbuilt page.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/tessera.js', import.meta.url));

it('serves the page, its bundles and the sample, and nothing outside the page folder', { timeout: 30_000 }, async () => {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
        const m = /tessera page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`tessera serve exited (${code}): ${out}`)));
    });
    const page = await fetch(url);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await page.text(), /<script type="module" src="app\/main.js">/);
    for (const f of ['app/main.js', 'app/worker.js']) {
      const r = await fetch(url + f);
      assert.equal(r.status, 200, f);
      assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
    }
    const data = new Uint8Array(await (await fetch(`${url}data/fashion-mnist-sample/t10k-labels-idx1-ubyte.gz`)).arrayBuffer());
    assert.deepEqual([...data.subarray(0, 2)], [0x1f, 0x8b]);
    assert.equal((await fetch(`${url}nothing-here.js`)).status, 404);
    // URL parsing drops ../ segments, but an encoded slash decodes into one: the server refuses it
    const escaped = await new Promise<number>((resolve) => {
      const { port } = new URL(url);
      import('node:http').then((http) => http.get({ host: '127.0.0.1', port, path: '/..%2f..%2fpackage.json' }, (r) => { r.resume(); resolve(r.statusCode!); }));
    });
    assert.equal(escaped, 403);
    // a malformed escape is a bad request, and the server goes on serving
    assert.equal((await fetch(`${url}%E0%A4%A`)).status, 400);
    assert.equal((await fetch(url)).status, 200);
    assert.equal((await fetch(url, { method: 'POST', body: 'x' })).status, 405);
  } finally {
    child.kill('SIGINT');
  }
});

it('a bad port is an error naming it', () => {
  const r = spawnSync(process.execPath, [bin, 'serve', '--port', 'eighty'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tessera: serve: --port must be a whole number from 0 to 65535, got 'eighty'/);
});
