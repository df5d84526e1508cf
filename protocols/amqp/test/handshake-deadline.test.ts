/** The handshake deadline is absolute: accept to connection.open-ok, whatever arrives meanwhile. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, startAmqpServer, type TestServer } from '@junction/testkit';
import { PROTOCOL_HEADER } from '../src/wire/index.js';

const DEADLINE_MS = 600;
let server: TestServer;
beforeAll(async () => {
  server = await startAmqpServer({ handshakeTimeoutMs: DEADLINE_MS });
});
afterAll(async () => server.close());

describe('AMQP handshake deadline', () => {
  it('closes a socket that never sends the protocol header', async () => {
    const started = Date.now();
    const c = await rawClient(server.port);
    await c.closed;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
    expect(c.received().length).toBe(0);
  });

  it('closes a peer that trickles its header a byte at a time, counting from the accept', async () => {
    const started = Date.now();
    const c = await rawClient(server.port);
    let i = 0;
    const timer = setInterval(() => {
      if (i < PROTOCOL_HEADER.length - 1) c.socket.write(PROTOCOL_HEADER.subarray(i, ++i));
    }, DEADLINE_MS / 4);
    await c.closed;
    clearInterval(timer);
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS + 3000);
  });
});
