/** Static files for the web UI (GET / and /ui/...), confined to one directory. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** Serves `rel` (a URL path, still percent-encoded) from `root`; false when there is no such file. */
export async function serveStatic(res: ServerResponse, root: string, rel: string): Promise<boolean> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    return false;
  }
  const base = resolve(root);
  const file = resolve(base, decoded.replace(/^\/+/, ''));
  if (file !== base && !file.startsWith(base + sep)) return false;
  // Not there (or a path through a file): not ours to serve; anything else is a real failure.
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
    throw err;
  });
  if (!st?.isFile()) return false;
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': String(st.size),
    'cache-control': 'no-cache',
  });
  if (res.req.method === 'HEAD') {
    res.end();
    return true;
  }
  await new Promise<void>((ok, fail) => {
    createReadStream(file).on('error', fail).pipe(res).on('finish', ok);
  });
  return true;
}
