/**
 * Issue 13/14: the management listener's request guards. State changes need the
 * Authorization header and a JSON content type (so a form another origin posts through
 * the browser fails), bodies and headers are bounded (413, 431), and every answer carries
 * the browser security headers.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await start({ mgmt: { limits: { maxBodyBytes: 64 * 1024, maxHeaderBytes: 8 * 1024 } } });
});
afterAll(async () => {
  await h.close();
});

const guest = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

/** A raw request (fetch forbids some of the headers a hostile page's browser sends). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body?: Buffer | string,
  chunked = false,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const url = new URL(h.base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    if (body !== undefined && chunked) {
      const b = Buffer.from(body);
      for (let i = 0; i < b.length; i += 4096) req.write(b.subarray(i, i + 4096));
    } else if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('CSRF: state changes need the auth header and JSON', () => {
  it('a form post from another origin declares no queue', async () => {
    const form = 'durable=true';
    for (const [type, origin] of [
      ['application/x-www-form-urlencoded', 'http://evil.example'],
      ['text/plain', 'http://evil.example'],
      ['multipart/form-data; boundary=x', 'null'],
      ['application/x-www-form-urlencoded', undefined],
      ['text/plain', undefined],
    ] as const) {
      const r = await raw(
        'PUT',
        '/api/queues/%2F/csrf',
        {
          authorization: guest, // the browser's cached Basic credentials ride along
          'content-type': type,
          'content-length': form.length,
          ...(origin ? { origin } : {}),
        },
        form,
      );
      expect([403, 415], `${type} from ${origin}`).toContain(r.status);
    }
    const r = await raw(
      'POST',
      '/api/exchanges/%2F/amq.default/publish',
      {
        authorization: guest,
        'content-type': 'application/json',
        origin: 'http://evil.example',
        'sec-fetch-site': 'cross-site',
      },
      '{"routing_key":"x","payload":"p"}',
    );
    expect(r.status).toBe(403);
    const del = await raw('DELETE', '/api/vhosts/%2F', {
      authorization: guest,
      origin: 'http://evil.example',
    });
    expect(del.status).toBe(403);
    expect(h.broker.vhosts.has('/')).toBe(true);
    expect(h.broker.vhosts.get('/')!.queues.has('csrf')).toBe(false);
  });

  it('the same request as JSON with the auth header (and the same origin) works', async () => {
    const ok = await raw(
      'PUT',
      '/api/queues/%2F/csrf',
      {
        authorization: guest,
        'content-type': 'application/json; charset=utf-8',
        origin: h.base,
      },
      '{"durable":true}',
    );
    expect(ok.status).toBe(201);
    // Without credentials nothing changes, whatever the content type.
    const anon = await raw('DELETE', '/api/queues/%2F/csrf', {});
    expect(anon.status).toBe(401);
    expect(h.broker.vhosts.get('/')!.queues.has('csrf')).toBe(true);
    expect((await h.api('DELETE', '/api/queues/%2F/csrf')).status).toBe(204);
  });
});

describe('request size limits', () => {
  it('a declared body over the limit is 413 before it is read', async () => {
    const r = await raw('POST', '/api/definitions', {
      authorization: guest,
      'content-type': 'application/json',
      'content-length': 10 * 1024 * 1024,
    });
    expect(r.status).toBe(413);
  });

  it('a chunked body over the limit is 413', async () => {
    const big = `{"queues":[],"x":"${'y'.repeat(100 * 1024)}"}`;
    const r = await raw(
      'POST',
      '/api/definitions',
      { authorization: guest, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      big,
      true,
    );
    expect(r.status).toBe(413);
  });

  it('headers over the limit are 431, and the listener goes on serving', async () => {
    const r = await raw('GET', '/api/overview', { authorization: guest, 'x-pad': 'p'.repeat(16 * 1024) });
    expect(r.status).toBe(431);
    expect((await h.api('GET', '/api/overview')).status).toBe(200);
  });
});

describe('security headers', () => {
  it('are on the API, the UI and errors', async () => {
    for (const [path, auth] of [
      ['/', null],
      ['/api/overview', undefined],
      ['/api/nope', undefined],
      ['/api/overview', null],
    ] as const) {
      const r = await h.api('GET', path, { auth });
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(r.headers.get('x-frame-options'), path).toBe('DENY');
      expect(r.headers.get('content-security-policy'), path).toMatch(/frame-ancestors 'none'/);
    }
  });
});
