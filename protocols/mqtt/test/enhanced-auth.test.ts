/**
 * MQTT 5 enhanced authentication with SCRAM-SHA-256 (4.12) against a real broker: mqtt.js
 * through its `handleAuth` hook, raw sockets for what a well-behaved client never sends, and
 * Debian's python3-paho-mqtt (1.6 has no AUTH handling, so it sees the refusals CONNACK gives
 * at once). Every refusal carries the reason code the spec names and other clients are served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IAuthPacket, IConnackPacket } from 'mqtt-packet';
import { hashPassword } from '@junction/core';
import { seededRandom, startMqttServer, until, type WsTestServer } from '@junction/testkit';
import {
  collect,
  connect5,
  connectedRaw5,
  disconnectedWith,
  pahoConnacks,
  raw5,
  type Raw5,
} from './helpers.js';
import { ScramClient } from './scram-client.js';

const METHOD = 'SCRAM-SHA-256';
let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer();
  const b = server.broker;
  await b.putUser('sam', { password: 's3cret', tags: [] });
  await b.setPermission('/', 'sam', { configure: '.*', write: '.*', read: '.*' });
  // Imported as a hash only, as RabbitMQ definitions carry users: no SCRAM keys.
  await b.putUser('hashed', { passwordHash: hashPassword('pw'), tags: [] });
  await b.setPermission('/', 'hashed', { configure: '.*', write: '.*', read: '.*' });
});
afterAll(async () => {
  await server.close();
});

/** mqtt.js connecting with SCRAM: resolves with the client and its CONNACK, rejects with the refusal. */
function scramConnect(scram: ScramClient, opts: IClientOptions = {}): Promise<[MqttClient, IConnackPacket]> {
  const c = mqtt.connect(server.url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    properties: { authenticationMethod: METHOD, authenticationData: scram.clientFirst() },
    ...opts,
  });
  c.handleAuth = (packet, callback) => {
    const serverFirst = packet.properties?.authenticationData;
    if (!serverFirst) return callback(new Error('AUTH without data'));
    callback(undefined, {
      cmd: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: METHOD, authenticationData: scram.clientFinal(serverFirst) },
    });
  };
  return new Promise((resolve, reject) => {
    c.once('connect', (ack) => resolve([c, ack]));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

const refusal = (p: Promise<[MqttClient, IConnackPacket]>): Promise<{ code?: number; message: string }> =>
  p.then(
    ([c]) => {
      c.end(true);
      throw new Error('connected');
    },
    (e: { code?: number; message: string }) => e,
  );

/** A raw CONNECT naming SCRAM with `data`; returns the connection. */
async function rawScram(data: Buffer, clientId = ''): Promise<Raw5> {
  const c = await raw5(server.port);
  c.send({
    cmd: 'connect',
    protocolVersion: 5,
    clientId,
    properties: { authenticationMethod: METHOD, authenticationData: data },
  });
  return c;
}

async function stillServed(): Promise<void> {
  const c = await mqtt.connectAsync(server.url, {
    username: 'guest',
    password: 'guest',
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  const got = collect(c);
  await c.subscribeAsync('auth/still', { qos: 1 });
  await c.publishAsync('auth/still', 'served', { qos: 1 });
  await until(() => got.length === 1, 'a password client still served');
  await c.endAsync();
}

const connackOf = async (c: Raw5): Promise<IConnackPacket> => {
  const ack = (await c.next('connack')) as IConnackPacket;
  await c.raw.closed;
  return ack;
};

describe('MQTT 5 SCRAM-SHA-256', () => {
  it('logs in with mqtt.js: AUTH 0x18 with server-first, CONNACK 0x00 with a server-final that verifies', async () => {
    const scram = new ScramClient('sam', 's3cret');
    const [c, ack] = await scramConnect(scram, { clientId: 'scram-ok' });
    expect(ack.reasonCode).toBe(0);
    expect(ack.properties?.authenticationMethod).toBe(METHOD);
    expect(scram.verifies(ack.properties?.authenticationData)).toBe(true);
    const snapshot = [...server.adapter.connections()].find((x) => x.clientId === 'scram-ok');
    expect(snapshot?.user).toBe('sam');
    const got = collect(c);
    await c.subscribeAsync('scram/t', { qos: 1 });
    await c.publishAsync('scram/t', 'proved', { qos: 1 });
    await until(() => got.length === 1, 'a SCRAM client round trip');
    await c.endAsync();
  });

  it('refuses a wrong password and an unknown user alike with 0x87, after the same first step', async () => {
    const wrong = await refusal(scramConnect(new ScramClient('sam', 'guess')));
    expect(wrong.code).toBe(0x87);
    // The unknown user gets a salt and an iteration count too: the answer does not tell it apart.
    const c = await rawScram(new ScramClient('nobody', 'x').clientFirst());
    const auth = (await c.next('auth')) as IAuthPacket;
    expect(auth.reasonCode).toBe(0x18);
    expect(auth.properties?.authenticationData?.toString()).toMatch(/^r=[^,]+,s=[A-Za-z0-9+/=]+,i=4096$/);
    c.raw.socket.destroy();
    const unknown = await refusal(scramConnect(new ScramClient('nobody', 'x')));
    expect(unknown.code).toBe(0x87);
    await stillServed();
  });

  it('refuses a user whose password was imported as a hash with 0x8C, saying why', async () => {
    const c = await rawScram(new ScramClient('hashed', 'pw').clientFirst());
    const ack = await connackOf(c);
    expect(ack.reasonCode).toBe(0x8c);
    expect(ack.properties?.reasonString).toMatch(/no SCRAM credentials.*set the password again/);
    // The same user with its password logs in.
    const ok = await mqtt.connectAsync(server.url, {
      username: 'hashed',
      password: 'pw',
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    await ok.endAsync();
  });

  it('refuses a wrong proof and a replayed client-final with 0x87', async () => {
    const scram = new ScramClient('sam', 's3cret');
    let c = await rawScram(scram.clientFirst());
    let serverFirst = ((await c.next('auth')) as IAuthPacket).properties!.authenticationData!;
    c.send({
      cmd: 'auth',
      reasonCode: 0x18,
      properties: {
        authenticationMethod: METHOD,
        authenticationData: scram.clientFinal(serverFirst, Buffer.alloc(32, 7)),
      },
    });
    let ack = await connackOf(c);
    expect([ack.reasonCode, ack.properties?.reasonString]).toEqual([
      0x87,
      expect.stringMatching(/invalid proof/),
    ]);

    // A recorded good exchange played again: same client nonce, but the server's part is new.
    c = await rawScram(scram.clientFirst());
    serverFirst = ((await c.next('auth')) as IAuthPacket).properties!.authenticationData!;
    const recorded = scram.clientFinal(serverFirst);
    c.send({
      cmd: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: METHOD, authenticationData: recorded },
    });
    expect(((await c.next('connack')) as IConnackPacket).reasonCode).toBe(0);
    c.raw.socket.destroy();
    c = await rawScram(scram.clientFirst());
    await c.next('auth');
    c.send({
      cmd: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: METHOD, authenticationData: recorded },
    });
    ack = await connackOf(c);
    expect([ack.reasonCode, ack.properties?.reasonString]).toEqual([0x87, expect.stringMatching(/nonce/)]);
    await stillServed();
  });

  it('bounds the exchange: oversized data, a long nonce, a second exchange, a packet other than AUTH', async () => {
    const cases: [string, Buffer, number][] = [
      ['client-first over 1024 bytes', Buffer.from(`n,,n=sam,r=abc,x=${'y'.repeat(2000)}`), 0x87],
      ['a 200-character nonce', Buffer.from(`n,,n=sam,r=${'a'.repeat(200)}`), 0x87],
      ['channel binding', Buffer.from('p=tls-unique,,n=sam,r=abc'), 0x87],
      ['no GS2 header', Buffer.from('n=sam,r=abc'), 0x87],
    ];
    for (const [name, data, code] of cases) {
      const ack = await connackOf(await rawScram(data));
      expect([name, ack.reasonCode]).toEqual([name, code]);
    }
    const steps: [string, Record<string, unknown>, number][] = [
      ['PUBLISH before CONNACK', { cmd: 'publish', topic: 'a', payload: 'x', qos: 0 }, 0x82],
      [
        'AUTH naming another method',
        { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'PLAIN' } },
        0x8c,
      ],
      [
        'AUTH 0x19 before CONNACK',
        { cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: METHOD } },
        0x82,
      ],
    ];
    for (const [name, packet, code] of steps) {
      const c = await rawScram(new ScramClient('sam', 's3cret').clientFirst());
      await c.next('auth');
      c.send(packet as never);
      const ack = await connackOf(c);
      expect([name, ack.reasonCode]).toEqual([name, code]);
    }
    // Authentication Data without a method (3.1.2.11.10).
    const dataOnly = await raw5(server.port);
    dataOnly.send(connect5(Buffer.from([0x16, 0, 1, 0x61])));
    expect((await connackOf(dataOnly)).reasonCode).toBe(0x82);
    // A password beside the proof is a second credential nobody checks: refused.
    const c = await raw5(server.port);
    c.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: '',
      username: 'sam',
      password: Buffer.from('s3cret'),
      properties: {
        authenticationMethod: METHOD,
        authenticationData: new ScramClient('sam', 's3cret').clientFirst(),
      },
    });
    expect((await connackOf(c)).reasonCode).toBe(0x87);
    await stillServed();
  });

  it('takes the vhost from a User Name `vhost:user` beside SCRAM, whose user must be the one SCRAM proved', async () => {
    await server.broker.addVhost('plant');
    await server.broker.setPermission('plant', 'sam', { configure: '.*', write: '.*', read: '.*' });
    const [c] = await scramConnect(new ScramClient('sam', 's3cret'), {
      clientId: 'in-plant',
      username: 'plant:sam',
    });
    expect([...server.adapter.connections()].find((x) => x.clientId === 'in-plant')?.vhost).toBe('plant');
    await c.endAsync();
    // guest may use `plant` too: only the user mismatch refuses this one.
    await server.broker.setPermission('plant', 'guest', { configure: '.*', write: '.*', read: '.*' });
    const other = await refusal(scramConnect(new ScramClient('sam', 's3cret'), { username: 'plant:guest' }));
    expect(other.code).toBe(0x87);
  });

  it('closes an AUTH sent before CONNECT without an answer; an AUTH from a password client is DISCONNECT 0x82', async () => {
    const early = await raw5(server.port);
    early.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD } });
    await early.raw.closed;
    expect(early.packets).toEqual([]);
    const pw = await connectedRaw5(server.port);
    pw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: METHOD } });
    expect(await disconnectedWith(pw)).toBe(0x82);
    await stillServed();
  });

  it('re-authenticates after CONNACK (AUTH 0x19 ... AUTH 0x00); a failed one is DISCONNECT 0x87', async () => {
    const login = async (): Promise<Raw5> => {
      const scram = new ScramClient('sam', 's3cret');
      const c = await rawScram(scram.clientFirst(), 'reauth');
      const serverFirst = ((await c.next('auth')) as IAuthPacket).properties!.authenticationData!;
      c.packets.length = 0;
      c.send({
        cmd: 'auth',
        reasonCode: 0x18,
        properties: { authenticationMethod: METHOD, authenticationData: scram.clientFinal(serverFirst) },
      });
      expect(((await c.next('connack')) as IConnackPacket).reasonCode).toBe(0);
      c.packets.length = 0;
      return c;
    };
    /** AUTH 0x19 with client-first, AUTH 0x18 with client-final; the server's answer waits in c.packets. */
    const again = async (c: Raw5, scram: ScramClient): Promise<void> => {
      c.send({
        cmd: 'auth',
        reasonCode: 0x19,
        properties: { authenticationMethod: METHOD, authenticationData: scram.clientFirst() },
      });
      const first = (await c.next('auth')) as IAuthPacket;
      expect(first.reasonCode).toBe(0x18);
      c.packets.length = 0;
      c.send({
        cmd: 'auth',
        reasonCode: 0x18,
        properties: {
          authenticationMethod: METHOD,
          authenticationData: scram.clientFinal(first.properties!.authenticationData!),
        },
      });
    };
    const c = await login();
    const scram = new ScramClient('sam', 's3cret');
    await again(c, scram);
    const done = (await c.next('auth')) as IAuthPacket;
    expect(done.reasonCode).toBe(0);
    expect(scram.verifies(done.properties?.authenticationData)).toBe(true);
    c.packets.length = 0;
    c.send({ cmd: 'pingreq' });
    await c.next('pingresp');
    // One exchange in flight: a second AUTH 0x19 before the first ended is a protocol error.
    const reauth = {
      cmd: 'auth' as const,
      reasonCode: 0x19,
      properties: { authenticationMethod: METHOD, authenticationData: scram.clientFirst() },
    };
    c.packets.length = 0;
    c.send(reauth);
    await c.next('auth');
    c.send(reauth);
    expect(await disconnectedWith(c)).toBe(0x82);

    const d = await login();
    await again(d, new ScramClient('sam', 'guess'));
    expect(await disconnectedWith(d)).toBe(0x87);
    await stillServed();
  });
});

describe('MQTT 5 SCRAM with mutated messages', () => {
  it('answers 50 mutated client-first and 50 mutated client-final messages, logging in only with the real proof', async () => {
    const r = seededRandom(4_12);
    /** A message with 1 to 3 bytes changed to random ones (printable or not). */
    const mutate = (b: Buffer): Buffer => {
      const out = Buffer.from(b);
      for (let n = 1 + Math.floor(r() * 3); n > 0; n--)
        out[Math.floor(r() * out.length)] = Math.floor(r() * 256);
      return out;
    };
    const outcomes = new Map<string, number>();
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    for (let i = 0; i < 50; i++) {
      const scram = new ScramClient('sam', 's3cret');
      const first = mutate(scram.clientFirst());
      const c = await rawScram(first);
      const answer = await until(
        () => c.packets.find((p) => p.cmd === 'auth' || p.cmd === 'connack'),
        'an answer',
      );
      if (answer.cmd === 'connack') {
        expect((answer as IConnackPacket).reasonCode).toBeGreaterThanOrEqual(0x80);
        count(`first refused 0x${(answer as IConnackPacket).reasonCode!.toString(16)}`);
      } else count('first taken');
      c.raw.socket.destroy();
    }
    for (let i = 0; i < 50; i++) {
      const scram = new ScramClient('sam', 's3cret');
      const c = await rawScram(scram.clientFirst());
      const serverFirst = ((await c.next('auth')) as IAuthPacket).properties!.authenticationData!;
      const final = scram.clientFinal(serverFirst);
      const sent = mutate(final);
      c.send({
        cmd: 'auth',
        reasonCode: 0x18,
        properties: { authenticationMethod: METHOD, authenticationData: sent },
      });
      const ack = (await c.next('connack')) as IConnackPacket;
      // Only an unchanged message (a byte replaced by itself) logs in.
      expect(ack.reasonCode === 0).toBe(sent.equals(final));
      count(`final ${ack.reasonCode === 0 ? 'accepted' : `refused 0x${ack.reasonCode!.toString(16)}`}`);
      c.raw.socket.destroy();
    }
    expect(outcomes.get('final refused 0x87')).toBeGreaterThan(45);
    expect(
      [...outcomes.keys()].every((k) =>
        /^(first taken|first refused 0x87|final (accepted|refused 0x87))$/.test(k),
      ),
    ).toBe(true);
    await stillServed();
  });
});

describe('MQTT 5 enhanced authentication with paho', () => {
  it('paho sees 0x8C for a hash-only user under SCRAM and for an unknown method, with reason strings', async () => {
    const seen = (await pahoConnacks(server.port, [
      { method: METHOD, data: 'n,,n=hashed,r=pahononce' },
      { method: 'GS2-KRB5' },
    ])) as { reason: number; why: string }[];
    expect(seen).toEqual([
      { reason: 0x8c, why: expect.stringMatching(/no SCRAM credentials/), reference: null },
      { reason: 0x8c, why: expect.stringMatching(/GS2-KRB5 is not supported/), reference: null },
    ]);
    await stillServed();
  });
});
