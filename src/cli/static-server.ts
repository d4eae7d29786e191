// A static file server for the browser page on localhost: the page's folder only (no path
// outside it), with the MIME types a module worker needs.
import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml', '.gz': 'application/octet-stream',
};

export interface ServedFolder { server: http.Server; url: string; close(): Promise<void> }

/** Serves `dir` on host:port (port 0: any free one); resolves once it listens. */
export function serveFolder(dir: string, host: string, port: number): Promise<ServedFolder> {
  const root = normalize(dir + sep);
  const server = http.createServer(async (req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      // a malformed escape (%E0%A4) would otherwise throw out of the handler and end the server
      res.writeHead(400, { 'content-type': 'text/plain' }).end('malformed URL');
      return;
    }
    let file = normalize(join(root, path));
    if (!file.startsWith(root) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 403 : 405).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      // the .gz data files are served as they are: the page gunzips them itself
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address() as { port: number };
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolve({ server, url: `http://${shownHost}:${address.port}/`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}
