/**
 * Issue 13: password hashes as RabbitMQ stores them (rabbit_password_hashing_sha256: base64
 * of a 4-byte salt + SHA-256(salt + UTF-8 password)), so users imported from a RabbitMQ
 * export keep their passwords, an export round-trips them byte for byte, and no password
 * leaves the broker in a readable or reversible form.
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Harness } from './helpers.js';

/** RabbitMQ's algorithm, written out here independently of the broker's code. */
const rabbitHash = (salt: Buffer, password: string): string =>
  Buffer.concat([
    salt,
    createHash('sha256').update(salt).update(Buffer.from(password, 'utf8')).digest(),
  ]).toString('base64');

let h: Harness;
beforeAll(async () => {
  h = await start({ amqp: true });
});
afterAll(async () => {
  await h.close();
});

describe('RabbitMQ password hashes', () => {
  it('a user imported with a RabbitMQ hash logs in over AMQP and HTTP, and exports unchanged', async () => {
    const hash = rabbitHash(Buffer.from([0x90, 0x8d, 0xc6, 0xae]), 'pässwörd-1');
    // A hash from RabbitMQ itself: guest/guest as Debian's rabbitmq-server 3.10.8 exported it.
    const fromRabbit = 'kI3GCrswBLNZQzHJJ95QLoyfAVooYhnvf7jbqiW9BjOYUloe';
    const r = await h.api('POST', '/api/definitions', {
      body: {
        users: [
          {
            name: 'device',
            password_hash: hash,
            hashing_algorithm: 'rabbit_password_hashing_sha256',
            tags: ['management'],
          },
          {
            name: 'old-guest',
            password_hash: fromRabbit,
            hashing_algorithm: 'rabbit_password_hashing_sha256',
            tags: 'management',
          },
        ],
        permissions: [{ user: 'device', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
      },
    });
    expect(r.status, r.text).toBe(204);
    expect((await h.api('GET', '/api/whoami', { auth: ['device', 'pässwörd-1'] })).status).toBe(200);
    expect((await h.api('GET', '/api/whoami', { auth: ['device', 'pässwörd-2'] })).status).toBe(401);
    expect((await h.api('GET', '/api/whoami', { auth: ['old-guest', 'guest'] })).status).toBe(200);
    const url = new URL(h.amqp!.url);
    // The object form: amqplib decodes URL passwords with unescape(), which is not UTF-8.
    const at = { protocol: 'amqp', hostname: url.hostname, port: Number(url.port), username: 'device' };
    const conn = await amqplib.connect({ ...at, password: 'pässwörd-1' });
    await conn.close();
    await expect(amqplib.connect({ ...at, password: 'pässwörd-2' })).rejects.toThrow(/ACCESS.REFUSED/);

    const defs = (await h.api('GET', '/api/definitions')).json as {
      users: { name: string; password_hash: string; hashing_algorithm: string }[];
    };
    const byName = new Map(defs.users.map((u) => [u.name, u]));
    expect(byName.get('device')).toMatchObject({
      password_hash: hash,
      hashing_algorithm: 'rabbit_password_hashing_sha256',
    });
    expect(byName.get('old-guest')!.password_hash).toBe(fromRabbit);
  });

  it('passwords set through the API are salted hashes, never readable in any answer', async () => {
    const secret = 'correct horse battery staple';
    for (const name of ['ops-a', 'ops-b'])
      expect(
        (await h.api('PUT', `/api/users/${name}`, { body: { password: secret, tags: 'management' } })).status,
      ).toBe(201);
    const answers = [
      (await h.api('GET', '/api/definitions')).text,
      (await h.api('GET', '/api/users')).text,
      (await h.api('GET', '/api/users/ops-a')).text,
    ].join('\n');
    for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')])
      expect(answers).not.toContain(form);
    const a = h.broker.users.get('ops-a')!.passwordHash;
    const b = h.broker.users.get('ops-b')!.passwordHash;
    expect(a).not.toBe(b); // a salt per user
    const raw = Buffer.from(a, 'base64');
    expect(raw.length).toBe(36);
    expect(a).toBe(rabbitHash(raw.subarray(0, 4), secret));
    expect((await h.api('GET', '/api/whoami', { auth: ['ops-b', secret] })).status).toBe(200);
  });

  it('refuses hashes of another algorithm or shape instead of storing what cannot log in', async () => {
    for (const user of [
      {
        name: 'x',
        password_hash: rabbitHash(Buffer.alloc(4), 'p'),
        hashing_algorithm: 'rabbit_password_hashing_md5',
      },
      {
        name: 'x',
        password_hash: rabbitHash(Buffer.alloc(4), 'p'),
        hashing_algorithm: 'rabbit_password_hashing_sha512',
      },
    ]) {
      const r = await h.api('POST', '/api/definitions', { body: { users: [{ ...user, tags: [] }] } });
      expect(r.status).toBe(400);
    }
    const r = await h.api('PUT', '/api/users/x', { body: { password_hash: 'c2hvcnQ=', tags: '' } });
    expect(r.status).toBe(400);
    expect(h.broker.users.get('x')).toBeUndefined();
  });

  it('a password set through the API or imported in definitions gets SCRAM-SHA-256 keys; a hash does not', async () => {
    /** RFC 5802's StoredKey, written out here independently of the broker's code. */
    const storedKey = (password: string, salt: string, iterations: number): string => {
      const salted = pbkdf2Sync(password, Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
      const clientKey = createHmac('sha256', salted).update('Client Key').digest();
      return createHash('sha256').update(clientKey).digest('base64');
    };
    expect((await h.api('PUT', '/api/users/scram-a', { body: { password: 'pw-a', tags: '' } })).status).toBe(
      201,
    );
    const a = h.broker.users.get('scram-a')!.scram!;
    expect(a.iterations).toBe(4096);
    expect(a.storedKey).toBe(storedKey('pw-a', a.salt, a.iterations));
    // Tags alone keep the keys; a new hash replaces the password and drops them.
    await h.api('PUT', '/api/users/scram-a', { body: { tags: 'management' } });
    expect(h.broker.users.get('scram-a')!.scram).toEqual(a);
    await h.api('PUT', '/api/users/scram-a', {
      body: { password_hash: rabbitHash(Buffer.alloc(4, 1), 'x'), tags: '' },
    });
    expect(h.broker.users.get('scram-a')!.scram).toBeUndefined();

    const r = await h.api('POST', '/api/definitions', {
      body: {
        users: [
          { name: 'scram-b', password: 'pw-b', tags: 'management' },
          { name: 'scram-c', password_hash: rabbitHash(Buffer.alloc(4, 2), 'pw-c'), tags: '' },
        ],
      },
    });
    expect(r.status, r.text).toBe(204);
    const b = h.broker.users.get('scram-b')!.scram!;
    expect(b.storedKey).toBe(storedKey('pw-b', b.salt, b.iterations));
    expect(h.broker.users.get('scram-c')!.scram).toBeUndefined();
    expect((await h.api('GET', '/api/whoami', { auth: ['scram-b', 'pw-b'] })).status).toBe(200);
    // The export is RabbitMQ's format: the hash only, no password and no SCRAM keys.
    const exported = (await h.api('GET', '/api/definitions')).text;
    expect(exported).not.toContain(b.storedKey);
    expect(exported).not.toContain('pw-b');
  });
});
