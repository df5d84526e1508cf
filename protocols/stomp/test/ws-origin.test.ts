/**
 * Web STOMP checks the browser's Origin (issue 14): a page on another site cannot open a
 * STOMP session with the visitor's network position (loopback, the LAN). By default only
 * the broker's own host is accepted; clients that send no Origin (not browsers) connect.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStompServer, type WsTestServer } from '@junction/testkit';

let server: WsTestServer;
beforeAll(async () => {
  server = await startStompServer();
});
afterAll(async () => server.close());

/** Opens a WebSocket with an Origin; resolves with the CONNECT outcome or the refusal's HTTP status. */
function tryConnect(origin: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}/ws`, ['v12.stomp'], {
      ...(origin !== undefined ? { origin } : {}),
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(`HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on('error', () => {});
    ws.on('open', () => ws.send('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\0'));
    ws.on('message', (d: Buffer) => {
      resolve(d.toString().split('\n')[0]!);
      ws.close();
    });
  });
}

describe('Web STOMP Origin', () => {
  it('refuses a page from another site with 403 before any STOMP', async () => {
    expect(await tryConnect('http://evil.example')).toBe('HTTP 403');
    expect(await tryConnect('null')).toBe('HTTP 403');
  });

  it('accepts a page from the broker’s own host, and clients that send no Origin', async () => {
    expect(await tryConnect(`http://127.0.0.1:${server.wsPort}`)).toBe('CONNECTED');
    expect(await tryConnect(undefined)).toBe('CONNECTED');
  });
});
