/**
 * Client certificates on AMQPS: the EXTERNAL mechanism (amqplib's credentials.external(),
 * pika's ExternalCredentials) logs in as the user the certificate's CN names, with that user's
 * permissions; unknown CAs, expired certificates, users that do not exist and missing
 * certificates under 'required' are refused; PLAIN still works, and EXTERNAL is offered only
 * with a verified certificate.
 */
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTestPki,
  runPython,
  startOnEndpoints,
  type CertFiles,
  type EndpointServer,
} from '@junction/testkit';
import { createAmqpAdapter } from '../src/index.js';

const pki = makeTestPki();
const { valid: alice, unknownUser: nobody, expired, untrusted } = pki.loginCerts('alice');
const byEmail = pki.client('device-7', { san: 'email:carol@example.com' });

let server: EndpointServer<ReturnType<typeof createAmqpAdapter>>;
/** The adapter's warnings and errors, one JSON line each. */
const warnings: string[] = [];
/** Ports by listener: optional and required client certificates, SAN email login, plain TCP. */
const port = { optional: 0, required: 0, sanEmail: 0, plain: 0 };

beforeAll(async () => {
  server = await startOnEndpoints(
    (broker) =>
      createAmqpAdapter(
        broker,
        {},
        pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }),
      ),
    [
      pki.endpoint({ clientCert: 'optional' }),
      pki.endpoint({ clientCert: 'required' }),
      pki.endpoint({ clientCert: 'optional', certLoginFrom: 'san-email' }),
      { port: 0, host: '127.0.0.1', transport: 'tcp' },
    ],
  );
  // alice may only touch resources named alice.*.
  await server.broker.putUser('alice', { tags: [] });
  await server.broker.setPermission('/', 'alice', {
    configure: '^alice\\.',
    write: '^alice\\.',
    read: '^alice\\.',
  });
  [port.optional, port.required, port.sanEmail, port.plain] = server.ports as [
    number,
    number,
    number,
    number,
  ];
});
afterAll(async () => {
  await server.close();
  pki.remove();
});

const external = (p: number, cert?: CertFiles) =>
  amqp.connect(
    { protocol: 'amqps', hostname: 'localhost', port: p },
    {
      credentials: amqp.credentials.external(),
      ca: [pki.ca],
      servername: 'localhost',
      ...(cert ? { cert: cert.cert, key: cert.key } : {}),
    },
  );
const plainLogin = (p: number, cert?: CertFiles) =>
  amqp.connect(`amqps://guest:guest@localhost:${p}`, {
    ca: [pki.ca],
    servername: 'localhost',
    ...(cert ? { cert: cert.cert, key: cert.key } : {}),
  });

/** The broker still serves: a password login on the optional listener publishes and reads back. */
async function brokerServes(): Promise<void> {
  const c = await plainLogin(port.optional);
  const ch = await c.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('still up'));
  let got: amqp.GetMessage | false = false;
  for (let i = 0; i < 100 && !got; i++) got = await ch.get(queue, { noAck: true });
  expect(got && got.content.toString()).toBe('still up');
  await c.close();
}

describe('AMQPS client certificates', () => {
  it("EXTERNAL logs in as the certificate's CN, whose permissions apply; management shows the certificate", async () => {
    const c = await external(port.optional, alice);
    const snapshot = [...server.adapter.connections()].find((s) => s.user === 'alice')!;
    expect(snapshot.tls?.peerCertificate?.subject).toBe('CN=alice,O=Junction tests');
    expect(snapshot.tls?.peerCertificate?.issuer).toBe('CN=Junction Test CA');
    const ch = await c.createChannel();
    await ch.assertQueue('alice.q', { exclusive: true });
    const closed = new Promise<Error>((r) => ch.once('error', r));
    const refused = ch.assertQueue('bob.q');
    await expect(refused).rejects.toThrow(/403/);
    expect((await closed).message).toMatch(/403 \(ACCESS-REFUSED\).*queue 'bob\.q'.*user 'alice'/);
    await c.close();
  });

  it('maps a subjectAltName email to the user on a listener set to san-email', async () => {
    // No user carol@example.com yet, and the CN (device-7) is not used instead.
    await expect(external(port.sanEmail, byEmail)).rejects.toThrow(/user 'carol@example.com'/);
    await server.broker.putUser('carol@example.com', { tags: [] });
    await server.broker.setPermission('/', 'carol@example.com', { configure: '', write: '', read: '' });
    const c = await external(port.sanEmail, byEmail);
    expect([...server.adapter.connections()].map((s) => s.user)).toEqual(['carol@example.com']);
    await c.close();
  });

  it('refuses a certificate naming a user that does not exist with 403 ACCESS_REFUSED', async () => {
    await expect(external(port.optional, nobody)).rejects.toThrow(
      /403 \(ACCESS-REFUSED\).*EXTERNAL.*user 'nobody', who does not exist/,
    );
    await brokerServes();
  });

  it('refuses certificates from an unknown CA and expired ones at the TLS handshake, on both listeners', async () => {
    for (const p of [port.optional, port.required]) {
      await expect(external(p, untrusted)).rejects.toThrow();
      await expect(external(p, expired)).rejects.toThrow();
      // A password does not get a bad certificate in either.
      await expect(plainLogin(p, expired)).rejects.toThrow();
    }
    expect([...server.adapter.connections()]).toHaveLength(0);
    await brokerServes();
  });

  it("'required' refuses a client without a certificate; 'optional' lets a password login in without one", async () => {
    await expect(plainLogin(port.required)).rejects.toThrow();
    // The operator hears of it (sampled: at most one line per 10 s and listener).
    expect(warnings.map((l) => JSON.parse(l) as { msg: string; level: number })).toContainEqual(
      expect.objectContaining({ msg: 'AMQP 0-9-1: TLS handshake failed', level: 40 }),
    );
    const c = await plainLogin(port.optional);
    expect([...server.adapter.connections()][0]!.tls?.peerCertificate).toBeUndefined();
    await c.close();
    // With a certificate, PLAIN still logs in as the user it names (guest), not as the certificate.
    const d = await plainLogin(port.required, alice);
    expect([...server.adapter.connections()][0]!.user).toBe('guest');
    await d.close();
  });

  it('offers EXTERNAL only on a TLS connection with a verified client certificate', async () => {
    await expect(
      amqp.connect(
        { protocol: 'amqp', hostname: '127.0.0.1', port: port.plain },
        { credentials: amqp.credentials.external() },
      ),
    ).rejects.toThrow(/SASL mechanism EXTERNAL is not provided by the server/);
    await expect(external(port.optional)).rejects.toThrow(
      /SASL mechanism EXTERNAL is not provided by the server/,
    );
  });

  it("pika's ExternalCredentials logs in from the certificate", async () => {
    const script = fileURLToPath(new URL('./clients/pika_external.py', import.meta.url));
    const result = await runPython(script, [
      String(port.required),
      pki.caPath,
      alice.certPath,
      alice.keyPath,
    ]);
    expect(result).toEqual({ declared: 'alice.pika', refused: 403 });
  });
});
