/**
 * Client certificates on MQTTS (RabbitMQ's mqtt.ssl_cert_login): a CONNECT without username
 * and password, from mqtt.js or mosquitto_pub --cert/--key, logs in as the user the
 * certificate's CN names, with that user's permissions; an unknown user gets CONNACK 4; unknown
 * CAs, expired certificates and missing certificates under 'required' never get a CONNACK.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '@junction/core';
import {
  listenPorts,
  makeTestPki,
  testLog,
  until,
  type CertFiles,
  startOnEndpoints,
  type EndpointServer,
} from '@junction/testkit';
import { createMqttAdapter } from '../src/index.js';
import { collect } from './helpers.js';

const run = promisify(execFile);
const pki = makeTestPki();
const { valid: sensor, unknownUser: nobody, expired, untrusted } = pki.loginCerts('sensor');

let server: EndpointServer<ReturnType<typeof createMqttAdapter>>;
const port = { optional: 0, required: 0, plain: 0 };
let broker: Broker;
let adapter: ReturnType<typeof createMqttAdapter>;

beforeAll(async () => {
  server = await startOnEndpoints(
    (b, log) => createMqttAdapter(b, {}, log),
    [
      pki.endpoint({ clientCert: 'optional' }),
      pki.endpoint({ clientCert: 'required' }),
      { port: 0, host: '127.0.0.1', transport: 'tcp' },
    ],
  );
  ({ broker, adapter } = server);
  [port.optional, port.required, port.plain] = server.ports as [number, number, number];
  // sensor may publish (write on amq.topic) but not subscribe (no configure or read).
  await broker.putUser('sensor', { tags: [] });
  await broker.setPermission('/', 'sensor', { configure: '', write: '^amq\\.topic$', read: '' });
});
afterAll(async () => {
  await server.close();
  pki.remove();
});

/**
 * mqtt.js over TLS. A connection the broker drops before CONNACK (a certificate refused after
 * the handshake) ends the client without an 'error', so 'close' rejects too.
 */
function connect(p: number, cert: CertFiles | undefined, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(`mqtts://localhost:${p}`, {
    ca: [pki.ca],
    ...(cert ? { cert: cert.cert, key: cert.key } : {}),
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}
const guest = (p = port.optional) => connect(p, undefined, { username: 'guest', password: 'guest' });
const users = () => [...adapter.connections()].map((s) => s.user);

/** A guest subscriber over TLS; resolves the messages it gets on `topic`. */
async function subscriber(topic: string) {
  const c = await guest();
  await c.subscribeAsync(topic, { qos: 1 });
  return { client: c, got: collect(c) };
}

function mosquittoPub(p: number, cert: CertFiles, topic: string) {
  return run(
    'mosquitto_pub',
    ['-h', 'localhost', '-p', String(p), '--cafile', pki.caPath, '--cert', cert.certPath].concat([
      '--key',
      cert.keyPath,
      '-q',
      '1',
      '-t',
      topic,
      '-m',
      'from mosquitto_pub',
    ]),
    { timeout: 15_000 },
  );
}

describe('MQTTS client certificates', () => {
  it('mqtt.js without credentials logs in as the CN, whose permissions apply; management shows the certificate', async () => {
    const sub = await subscriber('readings/#');
    const c = await connect(port.optional, sensor);
    expect(users()).toContain('sensor');
    const snapshot = [...adapter.connections()].find((s) => s.user === 'sensor')!;
    expect(snapshot.tls?.peerCertificate?.subject).toBe('CN=sensor,O=Junction tests');
    expect(snapshot.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
    await c.publishAsync('readings/1', '21.5', { qos: 1 });
    await until(() => sub.got.some((m) => m.payload === '21.5'), 'the published reading arrives');
    // No read or configure permission: the subscription is refused (SUBACK 0x80).
    await expect(c.subscribeAsync('readings/#', { qos: 1 })).rejects.toMatchObject({
      packet: { granted: [128] },
    });
    await c.endAsync();
    await sub.client.endAsync();
  });

  it('mosquitto_pub --cert/--key publishes as the certificate user', async () => {
    const sub = await subscriber('devices/+');
    await mosquittoPub(port.required, sensor, 'devices/one');
    await until(() => sub.got.some((m) => m.payload === 'from mosquitto_pub'), 'mosquitto_pub message');
    await sub.client.endAsync();
  });

  it('refuses a certificate naming a user that does not exist with CONNACK 4', async () => {
    await expect(connect(port.optional, nobody)).rejects.toMatchObject({ code: 4 });
    const refused = await mosquittoPub(port.required, nobody, 't').catch((e: { stderr: string }) => e);
    expect((refused as { stderr: string }).stderr).toMatch(/bad user name or password/i);
    const c = await guest();
    await c.endAsync();
  });

  it('refuses unknown CAs, expired certificates and (required) no certificate; other clients go on', async () => {
    const sub = await subscriber('still/up');
    for (const p of [port.optional, port.required]) {
      await expect(connect(p, untrusted)).rejects.toThrow();
      await expect(connect(p, expired, { username: 'guest', password: 'guest' })).rejects.toThrow();
    }
    await expect(guest(port.required)).rejects.toThrow();
    await expect(mosquittoPub(port.optional, expired, 't')).rejects.toThrow();
    expect(users()).toEqual(['guest']);
    const pub = await guest();
    await pub.publishAsync('still/up', 'yes', { qos: 1 });
    await until(() => sub.got.some((m) => m.payload === 'yes'), 'the subscriber still gets messages');
    await pub.endAsync();
    await sub.client.endAsync();
  });

  it('a username and password win over the certificate; without a certificate no credentials is anonymous (CONNACK 5)', async () => {
    const c = await connect(port.required, sensor, { username: 'guest', password: 'guest' });
    expect(users()).toEqual(['guest']);
    await c.endAsync();
    await expect(connect(port.optional, undefined)).rejects.toMatchObject({ code: 5 });
    await expect(
      mqtt.connectAsync(`mqtt://127.0.0.1:${port.plain}`, { reconnectPeriod: 0, connectTimeout: 5000 }),
    ).rejects.toMatchObject({ code: 5 });
  });

  it('certLogin: false turns certificate login off', async () => {
    const off = createMqttAdapter(broker, { certLogin: false }, testLog());
    const [offPort] = await listenPorts(off, [pki.endpoint({ clientCert: 'required' })]);
    try {
      await expect(connect(offPort!, sensor)).rejects.toMatchObject({ code: 5 });
    } finally {
      await off.close({ drainMs: 0 });
    }
  });
});
