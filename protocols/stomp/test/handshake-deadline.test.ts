/** The handshake deadline is absolute: from the TCP accept to CONNECTED, whatever trickles in meanwhile. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startStompServer, trickleUntilClosed, wsUpgradeRequest, type WsTestServer } from '@junction/testkit';
import { rawStompClient } from './helpers.js';

const DEADLINE_MS = 600;
let server: WsTestServer;
beforeAll(async () => {
  server = await startStompServer({ handshakeTimeoutMs: DEADLINE_MS });
});
afterAll(async () => server.close());

describe('STOMP handshake deadline', () => {
  it('closes a CONNECT sent a byte at a time, counting from the accept', async () => {
    const connect = 'CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\0';
    const started = Date.now();
    const c = await rawStompClient(server.port);
    let i = 0;
    // Each byte well inside the deadline, the whole frame well beyond it.
    const timer = setInterval(() => {
      if (i < connect.length - 1) c.write(connect[i++]!);
    }, DEADLINE_MS / 8);
    await c.closed;
    clearInterval(timer);
    const elapsed = Date.now() - started;
    expect(i).toBeLessThan(connect.length - 1);
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
    expect(c.frames.filter((f) => f.command === 'CONNECTED')).toEqual([]);
  });

  it('closes a WebSocket upgrade that never completes', async () => {
    const elapsed = await trickleUntilClosed(server.wsPort, wsUpgradeRequest(), DEADLINE_MS / 6);
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
  });

  it('closes a WebSocket that upgraded but never sends CONNECT, counting from the TCP accept', async () => {
    const started = Date.now();
    const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}/ws`, 'v12.stomp');
    ws.on('error', () => {});
    let opened = false;
    ws.once('open', () => (opened = true));
    await new Promise<void>((r) => ws.once('close', () => r()));
    expect(opened, 'the upgrade itself succeeded').toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS + 3000);
  });

  it('leaves a connection that completed CONNECT in time open past the deadline', async () => {
    const c = await rawStompClient(server.port);
    c.write('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\0');
    await c.next('CONNECTED');
    await new Promise((r) => setTimeout(r, DEADLINE_MS * 2));
    c.write('SUBSCRIBE\nid:1\ndestination:/queue/after-deadline\nreceipt:s\n\n\0');
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('s');
    c.socket.destroy();
  });
});
