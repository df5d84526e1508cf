/** AMQPS: amqplib over TLS against a CA made here with openssl, and a certificate swapped while a client stays connected. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '@junction/core';
import { testLog, until } from '@junction/testkit';
import { createAmqpAdapter } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'junction-tls-'));
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
function leaf(name: string): void {
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=localhost/O=${name}`,
  );
  ssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
  );
}
const file = (n: string) => readFileSync(join(dir, n));

let broker: Broker;
let adapter: ReturnType<typeof createAmqpAdapter>;
let port: number;
beforeAll(async () => {
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Junction Test CA',
  );
  leaf('first');
  leaf('second');
  broker = await Broker.start();
  adapter = createAmqpAdapter(broker, {}, testLog());
  const [addr] = (await adapter.listen([
    {
      port: 0,
      host: '127.0.0.1',
      transport: 'tcp',
      tls: { cert: file('first.pem'), key: file('first.key') },
    },
  ])) as AddressInfo[];
  port = addr!.port;
});
afterAll(async () => {
  await adapter.close({ drainMs: 0 });
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

const connect = () =>
  amqp.connect(`amqps://guest:guest@localhost:${port}`, { ca: [file('ca.pem')], servername: 'localhost' });
const tlsSnapshots = () => [...adapter.connections()].map((s) => s.tls);

describe('AMQPS', () => {
  it('serves amqplib over TLS 1.2+, shows the session in management, and swaps the certificate for new connections only', async () => {
    const first = await connect();
    const ch = await first.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const tls = tlsSnapshots()[0]!;
    expect(tls.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(tls.cipher).not.toBe('');

    adapter.reloadTls({ cert: file('second.pem'), key: file('second.key') });
    const second = await connect();
    const peerOrg = (c: amqp.ChannelModel) =>
      (c.connection as unknown as { stream: TLSSocket }).stream.getPeerCertificate().subject.O;
    expect(peerOrg(second)).toBe('second');
    expect(peerOrg(first)).toBe('first');
    // The first connection kept its session and still works.
    ch.sendToQueue(queue, Buffer.from('after swap'));
    await until(async () => (await ch.checkQueue(queue)).messageCount === 1, 'publish after the swap');
    await second.close();
    await first.close();
  });
});
