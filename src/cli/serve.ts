// `tessera serve`: the browser page (train Fashion-MNIST on WebGPU or the CPU in a tab) on localhost.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fail } from '../core/errors.js';
import { serveFolder } from './static-server.js';

export const SERVE_HELP = `tessera serve — the browser page: train Fashion-MNIST on WebGPU or the CPU in a tab

Serves the page (built into dist/page by \`npm run build\`) with the Fashion-MNIST sample, and
prints its address. Stop it with Ctrl-C.

Options:
  --port N            the port (default 8080; 0 picks a free one)
  --host H            the address to listen on (default 127.0.0.1: this machine only)`;

/** The built page, beside the compiled library. */
export const PAGE_DIR = fileURLToPath(new URL('../../page', import.meta.url));

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, help: { type: 'boolean', default: false } },
    strict: true,
  });
  if (values.help) { console.log(SERVE_HELP); return 0; }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('serve', `--port must be a whole number from 0 to 65535, got '${values.port}'`);
  if (!existsSync(`${PAGE_DIR}/index.html`)) fail('serve', `the page is not built (${PAGE_DIR} has no index.html); run \`npm run build\``);
  let served;
  try {
    served = await serveFolder(PAGE_DIR, values.host, port);
  } catch (e) {
    fail('serve', `cannot listen on ${values.host}:${port}: ${(e as Error).message}`);
  }
  console.log(`tessera page: ${served.url}  (open it in Chrome, Edge or another browser with WebGPU; Ctrl-C stops)`);
  await new Promise<void>((resolve) => process.once('SIGINT', () => { served.server.close(); resolve(); }));
  return 0;
}
