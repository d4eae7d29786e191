// Builds the browser page into dist/page: the page and its worker bundled by esbuild from the
// compiled TypeScript, the HTML and CSS, and the Fashion-MNIST sample, so any static server can
// serve the folder (`tessera serve` does).
import { cp, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PAGE_DIR } from '../src/cli/serve.js';

const at = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

export async function buildPage(): Promise<string> {
  // a dev dependency: the package ships dist/page already built
  const { build } = await import('esbuild');
  await rm(PAGE_DIR, { recursive: true, force: true });
  await mkdir(PAGE_DIR, { recursive: true });
  await build({
    entryPoints: [at('dist/web/src/main.js'), at('dist/web/src/worker.js')],
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outdir: `${PAGE_DIR}/app`,
    minify: true, sourcemap: true, logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) await cp(at(`web/${f}`), `${PAGE_DIR}/${f}`);
  await cp(at('data/fashion-mnist-sample'), `${PAGE_DIR}/data/fashion-mnist-sample`, { recursive: true });
  return PAGE_DIR;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(`page: ${await buildPage()}`);
