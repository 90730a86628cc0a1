// A static file server on 127.0.0.1 (a secure context, so OPFS works) for the
// browser tests and the bench: `mounts` is [[URL prefix, folder], ...], the
// first prefix that matches wins ('' for the rest). Resolves with the
// listening server.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

export function serveStatic(mounts) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/favicon.ico') { res.writeHead(204).end(); return; }
    let path = decodeURIComponent(url.pathname);
    if (path.endsWith('/')) path += 'index.html';
    const [prefix, base] = mounts.find(([p]) => p === '' || path.startsWith(`${p}/`)) || [];
    if (base === undefined) { res.writeHead(404).end(); return; }
    const file = normalize(join(base, path.slice(prefix.length)));
    if (!file.startsWith(base + '/')) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}
