/** AMQPS: amqplib over TLS against a CA made here with openssl, and a certificate swapped while a client stays connected. */
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '@junction/core';
import { makeTestPki, testLog, until } from '@junction/testkit';
import { createAmqpAdapter } from '../src/index.js';

const pki = makeTestPki();
const second = pki.reissueServer('second');

let broker: Broker;
let adapter: ReturnType<typeof createAmqpAdapter>;
let port: number;
beforeAll(async () => {
  broker = await Broker.start();
  adapter = createAmqpAdapter(broker, {}, testLog());
  const [addr] = (await adapter.listen([
    {
      port: 0,
      host: '127.0.0.1',
      transport: 'tcp',
      tls: { cert: pki.server.cert, key: pki.server.key },
    },
  ])) as AddressInfo[];
  port = addr!.port;
});
afterAll(async () => {
  await adapter.close({ drainMs: 0 });
  await broker.close();
  pki.remove();
});

const connect = () =>
  amqp.connect(`amqps://guest:guest@localhost:${port}`, { ca: [pki.ca], servername: 'localhost' });
const serialOf = (pem: Buffer) => new X509Certificate(pem).serialNumber;
const tlsSnapshots = () => [...adapter.connections()].map((s) => s.tls);

describe('AMQPS', () => {
  it('serves amqplib over TLS 1.2+, shows the session in management, and swaps the certificate for new connections only', async () => {
    const first = await connect();
    const ch = await first.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const tls = tlsSnapshots()[0]!;
    expect(tls.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(tls.cipher).not.toBe('');

    adapter.reloadTls({ cert: second.cert, key: second.key });
    const afterSwap = await connect();
    const serial = (c: amqp.ChannelModel) =>
      (c.connection as unknown as { stream: TLSSocket }).stream.getPeerCertificate().serialNumber;
    expect(serial(afterSwap)).toBe(serialOf(second.cert));
    expect(serial(first)).toBe(serialOf(pki.server.cert));
    // The first connection kept its session and still works.
    ch.sendToQueue(queue, Buffer.from('after swap'));
    await until(async () => (await ch.checkQueue(queue)).messageCount === 1, 'publish after the swap');
    await afterSwap.close();
    await first.close();
  });
});
