/** The handshake deadline is absolute from the TCP accept: a trickled CONNECT or a stalled WebSocket upgrade is cut off. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, startMqttServer, type WsTestServer } from '@junction/testkit';
import { connectPacket } from './helpers.js';

const DEADLINE_MS = 600;
let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer({ handshakeTimeoutMs: DEADLINE_MS });
});
afterAll(async () => server.close());

/** Sends `bytes` one at a time every `everyMs` until the server hangs up; returns ms until it did. */
async function trickle(port: number, bytes: Buffer, everyMs: number): Promise<number> {
  const started = Date.now();
  const c = await rawClient(port);
  let i = 0;
  const timer = setInterval(() => {
    if (i < bytes.length - 1) c.write(bytes.subarray(i, ++i));
  }, everyMs);
  await c.closed;
  clearInterval(timer);
  return Date.now() - started;
}

describe('MQTT handshake deadline', () => {
  it('closes a client that sends its CONNECT one byte at a time', async () => {
    const connect = connectPacket({ clientId: 'trickler', username: 'guest', password: 'guest' });
    const elapsed = await trickle(server.port, connect, DEADLINE_MS / 6);
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
  });

  it('closes a WebSocket upgrade that never completes', async () => {
    const request = Buffer.from(
      'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const elapsed = await trickle(server.wsPort, request, DEADLINE_MS / 6);
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
  });

  it('closes a WebSocket that upgraded but never sends CONNECT, counting from the TCP accept', async () => {
    const { WebSocket } = await import('ws');
    const started = Date.now();
    const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}/ws`, 'mqtt');
    ws.on('error', () => {});
    await new Promise<void>((r) => ws.once('close', () => r()));
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS + 3000);
  });
});
