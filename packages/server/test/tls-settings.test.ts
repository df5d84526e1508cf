/**
 * The TLS settings as startBroker wires them: the CA and client-certificate policy reach the
 * listeners, a protocol section's `tls` overrides the top-level one (client certificates
 * required on AMQPS only here), and a bad certificate file stops the start with its name.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki } from '@junction/testkit';
import { defaults } from '../src/config.js';
import { startBroker, type BrokerHandle } from '../src/start-broker.js';

const pki = makeTestPki();
const device = pki.client('device-1');
const expired = pki.client('device-2', { expired: true });
const stranger = pki.untrustedClient('device-3');
let b: BrokerHandle;

beforeAll(async () => {
  b = await startBroker({
    ports: { amqps: 0, mqtts: 0 },
    config: {
      tls: { cert: pki.server.certPath, key: pki.server.keyPath, ca: pki.caPath, clientCert: 'optional' },
      amqp: { ...defaults.amqp!, tls: { clientCert: 'required' } },
    },
  });
});
afterAll(async () => {
  await b?.close();
  pki.remove();
});

const amqps = (client?: { cert: Buffer; key: Buffer }) =>
  amqp.connect(`amqps://guest:guest@127.0.0.1:${b.ports.amqps}`, {
    ca: [pki.ca],
    ...(client ? { cert: client.cert, key: client.key } : {}),
  });

/** Resolves on CONNACK; rejects when the broker ends the connection first (a refused certificate). */
function mqtts(client?: { cert: Buffer; key: Buffer }): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtts://127.0.0.1:${b.ports.mqtts}`, {
      ca: pki.ca,
      ...(client ? { cert: client.cert, key: client.key } : {}),
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    c.on('error', reject);
    c.on('close', () => reject(new Error('closed before CONNACK')));
    c.on('connect', () => {
      resolve();
      c.end();
    });
  });
}

describe('TLS settings through startBroker', () => {
  it('requires a client certificate on AMQPS (amqp.tls override) and takes only ones from the CA', async () => {
    await expect(amqps()).rejects.toThrow();
    await expect(amqps(expired)).rejects.toThrow();
    await expect(amqps(stranger)).rejects.toThrow();
    const conn = await amqps(device);
    const snap = [...b.adapters[0]!.connections()][0]!;
    expect(snap.tls?.peerCertificate?.subject).toMatch(/CN=device-1/);
    await conn.close();
  });

  it('keeps the top-level optional policy on MQTTS: no certificate is fine, a bad one is refused', async () => {
    await mqtts();
    await mqtts(device);
    await expect(mqtts(expired)).rejects.toThrow();
    await expect(mqtts(stranger)).rejects.toThrow();
  });

  it('offers TLS 1.3 only when --tls-min-version says so', async () => {
    const only13 = await startBroker({
      ports: { amqps: 0 },
      config: { tls: { cert: pki.server.certPath, key: pki.server.keyPath, minVersion: 'TLSv1.3' } },
    });
    try {
      const handshake = (port: number) =>
        new Promise<string>((resolve, reject) => {
          const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca, maxVersion: 'TLSv1.2' }, () => {
            resolve(s.getProtocol() ?? '');
            s.destroy();
          });
          s.on('error', reject);
        });
      expect(await handshake(b.ports.mqtts!)).toBe('TLSv1.2');
      await expect(handshake(only13.ports.amqps!)).rejects.toThrow(/version/i);
    } finally {
      await only13.close();
    }
  });

  it('refuses to start on a certificate file that is not one, naming it', async () => {
    const bad = join(pki.dir, 'not-a-cert.pem');
    writeFileSync(bad, 'hello\n');
    await expect(
      startBroker({ ports: { mqtts: 0 }, config: { tls: { cert: bad, key: pki.server.keyPath } } }),
    ).rejects.toThrow(`TLS certificate ${bad} with key ${pki.server.keyPath} is not usable`);
  });
});
