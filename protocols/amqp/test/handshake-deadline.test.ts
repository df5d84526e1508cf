/** The handshake deadline is absolute: accept to connection.open-ok, whatever arrives meanwhile. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTestPki,
  rawClient,
  startAmqpServer,
  startOnEndpoints,
  trickleUntilClosed,
  type TestServer,
} from '@junction/testkit';
import { createAmqpAdapter } from '../src/index.js';
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

  it('counts the TLS handshake: a ClientHello trickled a byte at a time is cut off on AMQPS', async () => {
    const pki = makeTestPki();
    const tls = await startOnEndpoints(
      (broker, log) => createAmqpAdapter(broker, { handshakeTimeoutMs: DEADLINE_MS }, log),
      [pki.endpoint()],
    );
    try {
      // A TLS handshake record header announcing 512 bytes, then its body: the record would
      // take 50 s at this pace, each byte well inside the deadline.
      const hello = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), Buffer.alloc(512, 1)]);
      const elapsed = await trickleUntilClosed(tls.ports[0]!, hello, DEADLINE_MS / 6);
      expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
      expect(elapsed).toBeLessThan(DEADLINE_MS + 3000);
    } finally {
      await tls.close();
      pki.remove();
    }
  });
});
