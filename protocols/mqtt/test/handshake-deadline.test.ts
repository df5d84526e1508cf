/** The handshake deadline is absolute from the TCP accept: a trickled CONNECT or a stalled WebSocket upgrade is cut off. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMqttServer, trickleUntilClosed, wsUpgradeRequest, type WsTestServer } from '@junction/testkit';
import { connectPacket, raw5 } from './helpers.js';

const DEADLINE_MS = 600;
let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer({ handshakeTimeoutMs: DEADLINE_MS });
});
afterAll(async () => server.close());

describe('MQTT handshake deadline', () => {
  it('closes a client that sends its CONNECT one byte at a time', async () => {
    const connect = connectPacket({ clientId: 'trickler', username: 'guest', password: 'guest' });
    const elapsed = await trickleUntilClosed(server.port, connect, DEADLINE_MS / 6);
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
  });

  it('closes a WebSocket upgrade that never completes', async () => {
    const elapsed = await trickleUntilClosed(server.wsPort, wsUpgradeRequest(), DEADLINE_MS / 6);
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

  it('closes a client that starts a SCRAM exchange and never sends its AUTH', async () => {
    const c = await raw5(server.port);
    const started = Date.now();
    c.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'stalls-auth',
      properties: {
        authenticationMethod: 'SCRAM-SHA-256',
        authenticationData: Buffer.from('n,,n=guest,r=stall'),
      },
    });
    await c.next('auth');
    await c.raw.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS + 3000);
    expect(c.packets.map((p) => p.cmd)).toEqual(['auth']);
  });
});
