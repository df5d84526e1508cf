/**
 * Certificate login on a broker started as an operator starts it: `junction start` with a
 * config file (certificate files, STOMP's listener naming users by SAN email) and flags
 * (`--tls-client-cert required`, the TLS ports). amqplib with EXTERNAL, mqtt.js and stompit
 * log in by certificate alone, each as the user the certificate names and with that user's
 * permissions; management lists each connection's TLS version, cipher and peer certificate;
 * a client without a certificate is refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import type StompitClient from 'stompit/lib/Client.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeTestPki, until, type CertFiles, stompitClient } from '@junction/testkit';
import { startCli } from './cli-process.js';

const pki = makeTestPki();
// CN names the AMQP and MQTT user; the SAN email names the STOMP one (stomp.tls.certLoginFrom).
const device = pki.client('device-1', { san: 'email:carol@example.com' });
const dir = mkdtempSync(join(tmpdir(), 'junction-cert-login-'));
let cli: ReturnType<typeof startCli>;
let ports: Record<'amqps' | 'mqtts' | 'stomps' | 'http', number>;

beforeAll(async () => {
  const config = join(dir, 'junction.json');
  writeFileSync(
    config,
    JSON.stringify({
      tls: { cert: pki.server.certPath, key: pki.server.keyPath, ca: pki.caPath },
      stomp: { tls: { certLoginFrom: 'san-email' } },
    }),
  );
  const off = ['--amqp-port', 'off', '--mqtt-port', 'off', '--stomp-port', 'off'];
  const hosts = ['--amqp-host', '127.0.0.1', '--mqtt-host', '127.0.0.1', '--stomp-host', '127.0.0.1'];
  cli = startCli([
    ...['start', '--config', config, '--storage', 'memory', ...off, ...hosts],
    ...['--amqps-port', '0', '--mqtts-port', '0', '--stomps-port', '0'],
    ...['--http-port', '0', '--http-host', '127.0.0.1', '--tls-client-cert', 'required'],
  ]);
  ports = (await cli.line('Junction started'))['ports'] as typeof ports;
  await api('PUT', '/api/users/device-1', { tags: '' });
  await api('PUT', '/api/permissions/%2F/device-1', {
    configure: '^dev\\.',
    write: '^(dev\\..*|amq\\.default|amq\\.topic)$',
    read: '^(dev\\..*|amq\\.topic)$',
  });
  await api('PUT', '/api/users/carol@example.com', { tags: '' });
  await api('PUT', '/api/permissions/%2F/carol@example.com', {
    configure: '^carol\\.',
    write: '^(carol\\..*|amq\\.default)$',
    read: '^carol\\.',
  });
}, 30_000);
// cli-process kills the broker after the test if it is still running.
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  pki.remove();
});

/** The management API as guest (plain HTTP on loopback); the JSON answer. */
async function api(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${ports.http}${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 || res.status === 201 ? undefined : ((await res.json()) as unknown);
}

const external = (cert?: CertFiles) =>
  amqp.connect(
    { protocol: 'amqps', hostname: '127.0.0.1', port: ports.amqps },
    {
      credentials: amqp.credentials.external(),
      ca: [pki.ca],
      ...(cert ? { cert: cert.cert, key: cert.key } : {}),
    },
  );

const stompsByCertificate = (cert: CertFiles): Promise<StompitClient> =>
  stompitClient(ports.stomps, {}, { tls: { ca: pki.ca, cert }, noLogin: true });

interface ConnectionJson {
  name: string;
  user: string;
  protocol: string;
  ssl: boolean;
  ssl_protocol: string;
  ssl_cipher: string;
  peer_cert_subject: string;
  peer_cert_issuer: string;
  peer_cert_validity: string;
  peer_cert_subject_alt_name: string;
}

it('logs in over AMQP EXTERNAL, MQTT and STOMP by certificate; management shows each TLS session', async () => {
  // AMQP: EXTERNAL as the CN, with device-1's permissions only.
  const conn = await external(device);
  const ch = await conn.createChannel();
  await ch.assertQueue('dev.readings');
  await ch.bindQueue('dev.readings', 'amq.topic', 'dev.temp');
  const denied = await conn.createChannel();
  denied.on('error', () => {});
  await expect(denied.assertQueue('elsewhere')).rejects.toThrow(/ACCESS_REFUSED/);

  // MQTT: no username, no password: device-1 again; its publish reaches the AMQP queue.
  const sensor = await mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mqtts}`, {
    ca: [pki.ca],
    cert: device.cert,
    key: device.key,
    reconnectPeriod: 0,
  });
  await sensor.publishAsync('dev/temp', '21.5', { qos: 1 });
  const got = await until(() => ch.get('dev.readings', { noAck: true }), 'the MQTT reading in the queue');
  expect(got.content.toString()).toBe('21.5');

  // STOMP: this listener names users by SAN email: carol@example.com.
  const stomp = await stompsByCertificate(device);
  await new Promise<void>((resolve, reject) =>
    stomp
      .send({ destination: '/queue/carol.inbox', receipt: 'r' }, {
        onReceipt: () => resolve(),
        onError: reject,
      } as StompitClient.SendOptions)
      .end('by certificate'),
  );

  const list = await until(async () => {
    const l = (await api('GET', '/api/connections')) as ConnectionJson[];
    return l.length === 3 && l;
  }, 'three connections listed');
  expect(list.map((c) => [c.protocol.split(' ')[0], c.user]).sort()).toEqual([
    ['AMQP', 'device-1'],
    ['MQTT', 'device-1'],
    ['STOMP', 'carol@example.com'],
  ]);
  for (const c of list) {
    expect(c).toMatchObject({
      ssl: true,
      ssl_protocol: expect.stringMatching(/^TLSv1\.[23]$/),
      ssl_cipher: expect.stringMatching(/^TLS_|^ECDHE-/),
      peer_cert_subject: 'CN=device-1,O=Junction tests',
      peer_cert_issuer: 'CN=Junction Test CA',
      peer_cert_subject_alt_name: 'email:carol@example.com',
      peer_cert_validity: expect.stringMatching(/GMT - .*GMT$/),
    });
  }
  const one = list.find((c) => c.user === 'carol@example.com')!;
  expect(await api('GET', `/api/connections/${encodeURIComponent(one.name)}`)).toEqual(one);

  // Without a certificate nobody gets in, whatever the mechanism.
  await expect(external()).rejects.toThrow();
  await expect(
    amqp.connect(`amqps://guest:guest@127.0.0.1:${ports.amqps}`, { ca: [pki.ca] }),
  ).rejects.toThrow();

  await new Promise<void>((resolve, reject) => stomp.disconnect((err) => (err ? reject(err) : resolve())));
  await sensor.endAsync();
  await conn.close();
  cli.child.kill('SIGTERM');
  expect(await cli.exited).toBe(0);
}, 30_000);
