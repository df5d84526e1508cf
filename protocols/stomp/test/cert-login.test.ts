/**
 * Client certificates on STOMPS (RabbitMQ's stomp.ssl_cert_login): a CONNECT without login and
 * passcode, from stompit or @stomp/stompjs over WSS, logs in as the user the certificate's CN names, with that
 * user's permissions; an unknown user gets ERROR "Access refused" and the connection closes;
 * unknown CAs, expired certificates and missing certificates under 'required' never get a
 * CONNECTED; `certLogin: false` turns it off. Refusals are read with the raw client (stompit
 * 0.26 throws an ERROR frame's error from the frame stream, uncaught, instead of reporting it).
 */
import { Client as StompJs } from '@stomp/stompjs';
import WebSocket from 'ws';
import type Client from 'stompit/lib/Client.js';
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
  stompitClient,
} from '@junction/testkit';
import { createStompAdapter, type StompConfig } from '../src/index.js';
import { destroyClient, rawStompClient, sendWithReceipt } from './helpers.js';

const pki = makeTestPki();
const { valid: alice, unknownUser: nobody, expired, untrusted } = pki.loginCerts('alice');

let server: EndpointServer<ReturnType<typeof createStompAdapter>>;
const port = { optional: 0, required: 0, wss: 0 };
let broker: Broker;
let adapter: ReturnType<typeof createStompAdapter>;

beforeAll(async () => {
  server = await startOnEndpoints(
    (b, log) => createStompAdapter(b, {}, log),
    [
      pki.endpoint({ clientCert: 'optional' }),
      pki.endpoint({ clientCert: 'required' }),
      { ...pki.endpoint({ clientCert: 'required' }), transport: 'ws', path: '/ws' },
    ],
  );
  ({ broker, adapter } = server);
  [port.optional, port.required, port.wss] = server.ports as [number, number, number];
  // alice may only touch queues named alice.*.
  await broker.putUser('alice', { tags: [] });
  await broker.setPermission('/', 'alice', {
    configure: '^alice\\.',
    write: '^(alice\\..*|amq\\.default)$',
    read: '^alice\\.',
  });
});
afterAll(async () => {
  await server.close();
  pki.remove();
});

/** stompit over TLS; without `login` in `headers` the CONNECT carries no credentials. */
const connect = (
  p: number,
  cert: CertFiles | undefined,
  headers: Record<string, string> = {},
): Promise<Client> => stompitClient(p, headers, { tls: { ca: pki.ca, cert }, noLogin: true });

/** A raw CONNECT over TLS with `headers` (none: no credentials); resolves the first frame. */
async function rawConnect(p: number, cert: CertFiles | undefined, headers = '') {
  const c = await rawStompClient(p, { ca: pki.ca, ...(cert ? { cert: cert.cert, key: cert.key } : {}) });
  c.write(`CONNECT\naccept-version:1.2\nhost:/\n${headers}\n\0`);
  return { c, f: await c.next() };
}
const users = () => [...adapter.connections()].map((s) => s.user);

/** The first message on `destination`, read as a string. */
function firstMessage(client: Client, destination: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.subscribe({ destination, ack: 'auto' }, (err, msg) =>
      err ? reject(err) : msg.readString('utf8', (e, s) => (e ? reject(e) : resolve(s ?? ''))),
    ),
  );
}

/** The broker still serves: a password login sends to a queue and reads it back. */
async function brokerServes(): Promise<void> {
  const c = await connect(port.optional, undefined, { login: 'guest', passcode: 'guest' });
  try {
    const got = firstMessage(c, '/queue/still-up');
    await until(() => broker.vhost('/').queues.get('still-up')?.consumerCount === 1, 'the subscription');
    c.send({ destination: '/queue/still-up' }).end('yes');
    expect(await got).toBe('yes');
  } finally {
    destroyClient(c);
  }
}

describe('STOMPS client certificates', () => {
  it('stompit without login logs in as the CN (optional and required listeners); management shows the certificate', async () => {
    for (const p of [port.optional, port.required]) {
      const c = await connect(p, alice);
      try {
        expect(users()).toEqual(['alice']);
        const snapshot = [...adapter.connections()][0]!;
        expect(snapshot.tls?.peerCertificate?.subject).toBe('CN=alice,O=Junction tests');
        const got = firstMessage(c, '/queue/alice.inbox');
        await until(
          () => broker.vhost('/').queues.get('alice.inbox')?.consumerCount === 1,
          'the subscription',
        );
        await sendWithReceipt(c, { destination: '/queue/alice.inbox' }, `by certificate on ${p}`);
        expect(await got).toBe(`by certificate on ${p}`);
      } finally {
        destroyClient(c);
      }
      await until(() => users().length === 0, 'the connection to go');
    }
  });

  it("the certificate user gets that user's permissions, nothing more", async () => {
    const { c, f } = await rawConnect(port.optional, alice);
    expect(f.command).toBe('CONNECTED');
    c.write('SUBSCRIBE\nid:1\ndestination:/queue/alice.mine\nreceipt:ok\n\n\0');
    await c.next('RECEIPT');
    c.write('SUBSCRIBE\nid:2\ndestination:/queue/bob.inbox\n\n\0');
    const e = await c.next('ERROR');
    expect(e.headers['message']).toMatch(/ACCESS_REFUSED.*'bob\.inbox'.*'alice'/);
    await c.closed;
    expect(broker.vhost('/').queues.has('bob.inbox')).toBe(false);
  });

  it('@stomp/stompjs over WSS logs in by certificate too; an unknown user gets ERROR', async () => {
    const wss = (cert: CertFiles): Promise<StompJs> => {
      const url = `wss://127.0.0.1:${port.wss}/ws`;
      return new Promise((resolve, reject) => {
        const client = new StompJs({
          brokerURL: url,
          connectHeaders: { host: '/' },
          webSocketFactory: () =>
            new WebSocket(url, ['v12.stomp'], { ca: pki.ca, cert: cert.cert, key: cert.key }),
          reconnectDelay: 0,
          heartbeatIncoming: 0,
          heartbeatOutgoing: 0,
          onConnect: () => resolve(client),
          onStompError: (f) => {
            void client.deactivate();
            reject(new Error(f.headers['message']));
          },
          onWebSocketError: () => reject(new Error('websocket error')),
        });
        client.activate();
      });
    };
    const c = await wss(alice);
    expect(users()).toEqual(['alice']);
    await c.deactivate();
    await expect(wss(nobody)).rejects.toThrow('Access refused');
    await until(() => users().length === 0, 'no connection left');
  });

  it('refuses a certificate naming a user that does not exist with ERROR and closes', async () => {
    const { c, f } = await rawConnect(port.optional, nobody);
    expect(f.command).toBe('ERROR');
    expect(f.headers['message']).toBe('Access refused');
    expect(f.body.toString()).toContain("the client certificate names user 'nobody', who does not exist");
    await c.closed;
    await until(() => users().length === 0, 'the refused connection to go');
    await brokerServes();
  });

  it('refuses unknown CAs, expired certificates and (required) no certificate; others go on', async () => {
    for (const p of [port.optional, port.required]) {
      await expect(connect(p, untrusted)).rejects.toThrow();
      await expect(connect(p, expired, { login: 'guest', passcode: 'guest' })).rejects.toThrow();
    }
    await expect(connect(port.required, undefined, { login: 'guest', passcode: 'guest' })).rejects.toThrow();
    await until(() => users().length === 0, 'the refused connections to go');
    await brokerServes();
  });

  it('a login and passcode win over the certificate; without a certificate no login is refused', async () => {
    const c = await connect(port.required, alice, { login: 'guest', passcode: 'guest' });
    expect(users()).toEqual(['guest']);
    destroyClient(c);
    const { c: anon, f } = await rawConnect(port.optional, undefined);
    expect(f.headers['message']).toBe('Access refused');
    await anon.closed;
  });

  it('certLogin: false turns certificate login off', async () => {
    const config: Partial<StompConfig> = { certLogin: false };
    const off = createStompAdapter(broker, config, testLog());
    const [offPort] = await listenPorts(off, [pki.endpoint({ clientCert: 'required' })]);
    try {
      const { c, f } = await rawConnect(offPort!, alice);
      expect(f.command).toBe('ERROR');
      expect(f.body.toString()).toContain('a login is required');
      await c.closed;
      // The client sees the close before the broker has dropped the connection from its list.
      await until(() => [...off.connections()].length === 0, 'the refused connection to go');
    } finally {
      await off.close({ drainMs: 0 });
    }
  });
});
