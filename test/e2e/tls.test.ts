/**
 * TLS on every listener of a broker started as users start it (startBroker with the CLI's
 * settings: certificate files named in `tls`): amqplib amqps:// and pika, mqtt.js mqtts:// and
 * wss://, mosquitto_pub/mosquitto_sub with --cafile, stompit over TLS, @stomp/stompjs over WSS,
 * and the management API and UI over HTTPS in Chromium. Every client verifies the broker's
 * certificate against the test CA. A TLS 1.1 client is refused on every TLS port.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { Client as StompJs } from '@stomp/stompjs';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '@junction/server';
import {
  launchChromium,
  makeTestPki,
  openPage,
  runPython,
  until,
  type Browser,
  stompitClient,
} from '@junction/testkit';

const run = promisify(execFile);
const pki = makeTestPki();
let b: BrokerHandle;

beforeAll(async () => {
  b = await startBroker({
    ports: { amqps: 0, mqtts: 0, mqttWss: 0, stomps: 0, stompWss: 0, https: 0 },
    config: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
  });
});
afterAll(async () => {
  await b?.close();
  pki.remove();
});

const port = (l: keyof BrokerHandle['ports']): number => {
  const p = b.ports[l];
  if (p === undefined) throw new Error(`no ${l} listener`);
  return p;
};

/** GET over HTTPS as guest, the CA checked; resolves with the status and JSON body. */
function httpsGet(path: string): Promise<{ status: number; body: unknown; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: port('https'),
        path,
        ca: pki.ca,
        auth: 'guest:guest',
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
            socket: res.socket as TLSSocket,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface ConnectionJson {
  ssl: boolean;
  ssl_protocol?: string;
  protocol: string;
}

describe('TLS on every listener', () => {
  it('serves amqplib over amqps://, and management shows the TLS session', async () => {
    const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${port('amqps')}`, { ca: [pki.ca] });
    const ch = await conn.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('amqplib over tls'));
    await ch.waitForConfirms();
    const got = await ch.get(queue, { noAck: true });
    expect(got && got.content.toString()).toBe('amqplib over tls');
    const { status, body } = await httpsGet('/api/connections');
    expect(status).toBe(200);
    const amqps = (body as ConnectionJson[]).find((c) => c.protocol.startsWith('AMQP'));
    expect(amqps).toMatchObject({ ssl: true, ssl_protocol: expect.stringMatching(/^TLSv1\.[23]$/) });
    await conn.close();
  });

  it('serves pika over TLS', async () => {
    const script = fileURLToPath(new URL('./clients/pika_tls.py', import.meta.url));
    expect(await runPython(script, [String(port('amqps')), pki.caPath])).toEqual({ body: 'pika over tls' });
  });

  async function mqttRoundTrip(url: string, topic: string): Promise<void> {
    const opts = {
      ca: pki.ca,
      wsOptions: { ca: pki.ca },
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    };
    const sub: MqttClient = await mqtt.connectAsync(url, { ...opts, clientId: `${topic}-sub` });
    const pub: MqttClient = await mqtt.connectAsync(url, { ...opts, clientId: `${topic}-pub` });
    try {
      const got: string[] = [];
      sub.on('message', (_t, payload) => got.push(payload.toString()));
      await sub.subscribeAsync(topic, { qos: 1 });
      await pub.publishAsync(topic, `over ${url.split(':')[0]}`, { qos: 1 });
      await until(() => got.length === 1, `the message on ${url}`);
      expect(got).toEqual([`over ${url.split(':')[0]}`]);
    } finally {
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    }
  }

  it('serves mqtt.js over mqtts:// and wss://', async () => {
    await mqttRoundTrip(`mqtts://127.0.0.1:${port('mqtts')}`, 'tls/mqtts');
    await mqttRoundTrip(`wss://127.0.0.1:${port('mqttWss')}/ws`, 'tls/wss');
  });

  it('serves mosquitto_pub and mosquitto_sub with --cafile', async () => {
    const common = ['-h', '127.0.0.1', '-p', String(port('mqtts')), '--cafile', pki.caPath];
    const login = ['-u', 'guest', '-P', 'guest', '-q', '1', '-t', 'tls/mosquitto'];
    // Retained, so the subscriber that starts after the publisher still gets it.
    await run('mosquitto_pub', [...common, ...login, '-r', '-m', 'mosquitto over tls'], { timeout: 20_000 });
    const { stdout } = await run('mosquitto_sub', [...common, ...login, '-C', '1', '-W', '20'], {
      timeout: 25_000,
    });
    expect(stdout.trim()).toBe('mosquitto over tls');
    // Against another CA the broker's certificate is not trusted and nothing is sent.
    pki.untrustedClient('someone');
    const otherCa = join(pki.dir, 'other-ca.pem');
    const refused = run('mosquitto_pub', [...common.slice(0, 4), '--cafile', otherCa, ...login, '-m', 'x'], {
      timeout: 20_000,
    });
    await expect(refused).rejects.toMatchObject({
      stderr: expect.stringMatching(/TLS error|certificate verify failed/),
    });
  });

  it('serves stompit over TLS', async () => {
    const client = await stompitClient(port('stomps'), {}, { tls: { ca: pki.ca } });
    try {
      const body = new Promise<string>((resolve, reject) =>
        client.subscribe({ destination: '/queue/tls-stompit', ack: 'auto' }, (err, msg) =>
          err ? reject(err) : msg.readString('utf8', (e, s) => (e ? reject(e) : resolve(s ?? ''))),
        ),
      );
      await until(
        () => (b.broker.vhost('/').queues.get('tls-stompit')?.consumerCount ?? 0) === 1,
        'the subscription',
      );
      client.send({ destination: '/queue/tls-stompit' }).end('stompit over tls');
      expect(await body).toBe('stompit over tls');
    } finally {
      client.destroy(new Error('test over'));
    }
  });

  it('serves @stomp/stompjs over WSS', async () => {
    const url = `wss://127.0.0.1:${port('stompWss')}/ws`;
    const got: string[] = [];
    const client = new StompJs({
      brokerURL: url,
      connectHeaders: { login: 'guest', passcode: 'guest', host: '/' },
      webSocketFactory: () => new WebSocket(url, ['v12.stomp'], { ca: pki.ca }),
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
    });
    await new Promise<void>((resolve, reject) => {
      client.onConnect = () => resolve();
      client.onStompError = (f) => reject(new Error(f.headers['message']));
      client.onWebSocketError = () => reject(new Error('websocket error'));
      client.activate();
    });
    try {
      client.subscribe('/queue/tls-wss', (m) => got.push(m.body));
      await until(
        () => (b.broker.vhost('/').queues.get('tls-wss')?.consumerCount ?? 0) === 1,
        'the subscription',
      );
      client.publish({ destination: '/queue/tls-wss', body: 'stomp over wss' });
      await until(() => got.length === 1, 'the message');
      expect(got).toEqual(['stomp over wss']);
    } finally {
      await client.deactivate();
    }
  });

  it('serves the management UI over HTTPS in Chromium', async () => {
    const browser: Browser = await launchChromium();
    try {
      // Chromium has no way to take the test CA; Node's check of the chain is the test below.
      const { page, errors } = await openPage(browser, `https://127.0.0.1:${port('https')}/`, {
        ignoreHTTPSErrors: true,
      });
      await page.fill('#login [name=username]', 'guest');
      await page.fill('#login [name=password]', 'guest');
      await page.click('#login button[type=submit]');
      await page.locator('#page-overview .card').first().waitFor();
      expect(await page.evaluate('location.protocol')).toBe('https:');
      expect(await page.evaluate('window.isSecureContext')).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
    const { status, body, socket } = await httpsGet('/api/overview');
    expect(status).toBe(200);
    expect(socket.authorized).toBe(true);
    expect((body as { listeners: { protocol: string }[] }).listeners.map((l) => l.protocol).sort()).toEqual([
      'amqp/ssl',
      'https',
      'https/web-mqtt',
      'https/web-stomp',
      'mqtt/ssl',
      'stomp/ssl',
    ]);
  });

  it('refuses a TLS 1.1 client on every TLS port', async () => {
    // The same client gets through to a server that allows TLS 1.1: the refusal is the broker's.
    const old = {
      ca: pki.ca,
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    } as const;
    const handshake = (p: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ ...old, host: '127.0.0.1', port: p }, () => {
          resolve(s.getProtocol() ?? '');
          s.destroy();
        });
        s.on('error', reject);
      });
    const lenient = createTlsServer({
      cert: pki.server.cert,
      key: pki.server.key,
      minVersion: 'TLSv1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    await new Promise<void>((r) => lenient.listen(0, '127.0.0.1', r));
    try {
      expect(await handshake((lenient.address() as AddressInfo).port)).toBe('TLSv1.1');
    } finally {
      lenient.close();
    }
    for (const l of ['amqps', 'mqtts', 'stomps', 'mqttWss', 'stompWss', 'https'] as const)
      await expect(handshake(port(l)), l).rejects.toThrow(/version|protocol/i);
  });
});
