/**
 * MQTT 5 fuzz and split points. 2,000 valid v5 packets (every kind a client sends, with
 * properties) with random bytes of their bodies changed, each after a valid CONNECT: the
 * server either serves the packet (the PINGREQ behind it gets its PINGRESP) or sends a
 * DISCONNECT with a failure reason code and closes; a well-behaved client is served all along.
 * And the reader and decoders give the same packets whatever byte boundary a stream is cut at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as netConnect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { seededRandom, startMqttServer, until, type WsTestServer } from '@junction/testkit';
import {
  PacketReader,
  PacketType,
  decodeAck5,
  decodeConnectProperties5,
  decodeDisconnect5,
  decodePublish,
  decodeSubscribe,
  decodeUnsubscribe,
  type RawPacket,
} from '../src/codec.js';
import { MalformedPacket } from '../src/reason-codes.js';
import { client, collect } from './helpers.js';

const v5 = (p: mqttPacket.Packet): Buffer => mqttPacket.generate(p, { protocolVersion: 5 });
const userProperties = { site: 'hall', tag: ['a', 'b'] };
const CORPUS: Buffer[] = [
  v5({
    cmd: 'publish',
    topic: 'fuzz/a',
    payload: Buffer.from('hello'),
    qos: 0,
    retain: false,
    dup: false,
    properties: {
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      contentType: 'text/plain',
      responseTopic: 'fuzz/reply',
      correlationData: Buffer.from('c1'),
      userProperties,
      topicAlias: 2,
    },
  }),
  v5({
    cmd: 'publish',
    topic: 'fuzz/b',
    payload: Buffer.from('x'),
    qos: 1,
    messageId: 9,
    retain: false,
    dup: false,
    properties: { userProperties },
  }),
  v5({
    cmd: 'subscribe',
    messageId: 3,
    subscriptions: [
      { topic: 'fuzz/+', qos: 1, nl: true, rap: true, rh: 1 },
      { topic: 'fuzz/#', qos: 2, rh: 2 },
    ],
    properties: { subscriptionIdentifier: 12, userProperties },
  }),
  v5({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['fuzz/+'], properties: { userProperties } }),
  v5({ cmd: 'puback', messageId: 5, reasonCode: 0x10, properties: { reasonString: 'ok', userProperties } }),
  v5({ cmd: 'pubrec', messageId: 6, reasonCode: 0, properties: { reasonString: 'fine' } }),
  v5({ cmd: 'pubrel', messageId: 7, reasonCode: 0x92, properties: { reasonString: 'gone' } }),
  v5({ cmd: 'pubcomp', messageId: 8, reasonCode: 0, properties: { userProperties } }),
];
const PINGREQ = Buffer.from([0xc0, 0]);
const CONNECT = v5({
  cmd: 'connect',
  protocolVersion: 5,
  clientId: '',
  username: 'guest',
  password: Buffer.from('guest'),
  properties: { receiveMaximum: 10, topicAliasMaximum: 4, userProperties },
});

let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer({ receiveMaximum: 16 });
});
afterAll(async () => {
  await server.close();
});

/** Sends CONNECT, the packet and a PINGREQ; resolves with what came back, parsed as MQTT 5. */
function run(bytes: Buffer): Promise<{ packets: mqttPacket.Packet[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const packets: mqttPacket.Packet[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (p: mqttPacket.Packet) => {
      packets.push(p);
      if (p.cmd === 'pingresp') {
        socket.destroy();
        resolve({ packets, closed: false });
      }
    });
    const socket = netConnect(server.port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${bytes.toString('hex')}`));
    }, 5000);
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ packets, closed: true });
    });
    socket.on('connect', () => socket.write(Buffer.concat([CONNECT, bytes, PINGREQ])));
  });
}

/** A corpus packet with 1-3 body bytes replaced; the fixed header (so the framing) is kept. */
function mutate(r: () => number, p: Buffer): Buffer {
  const out = Buffer.from(p);
  let start = 1;
  while (out[start]! & 0x80) start++;
  start++;
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n && out.length > start; i++)
    out[start + Math.floor(r() * (out.length - start))] = Math.floor(r() * 256);
  return out;
}

describe('MQTT 5 fuzz', () => {
  it('serves or disconnects with a failure reason code every one of 2,000 mutated v5 packets', async () => {
    const watcher = await client(server, { clientId: 'fuzz-watcher', protocolVersion: 5 });
    const watched = collect(watcher);
    await watcher.subscribeAsync('health', { qos: 1 });
    const r = seededRandom(16_05);
    const outcomes = new Map<string, number>();
    let next = 0;
    let roundTrips = 0;
    const worker = async (): Promise<void> => {
      while (next < 2000) {
        const i = next++;
        const bytes = mutate(r, CORPUS[i % CORPUS.length]!);
        const { packets, closed } = await run(bytes);
        expect((packets[0] as mqttPacket.IConnackPacket | undefined)?.reasonCode, 'CONNACK').toBe(0);
        const disconnect = packets.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket;
        if (closed) {
          // Closed by the server: always with a DISCONNECT that says why.
          expect(disconnect?.reasonCode, bytes.toString('hex')).toBeGreaterThanOrEqual(0x80);
          const code = `0x${disconnect.reasonCode!.toString(16)}`;
          outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
        } else {
          expect(disconnect, bytes.toString('hex')).toBeUndefined();
          outcomes.set('served', (outcomes.get('served') ?? 0) + 1);
        }
        if (i % 250 === 0) {
          roundTrips++;
          await watcher.publishAsync('health', `${i}`, { qos: 1 });
          await until(() => watched.length >= roundTrips, 'the watcher served');
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    // Both outcomes happen, and the broker told malformed packets from protocol errors.
    expect(outcomes.get('served')).toBeGreaterThan(100);
    expect(outcomes.get('0x81')).toBeGreaterThan(10);
    expect(outcomes.get('0x82')).toBeGreaterThan(0);
    await until(() => [...server.adapter.connections()].length === 1, 'only the watcher left');
    await watcher.endAsync();
  }, 120_000);
});

/** Everything the decoders make of a stream fed in the given chunks (or the error). */
function decodeAll(chunks: Buffer[]): unknown[] {
  const out: unknown[] = [];
  const reader = new PacketReader(1 << 20);
  const decode = (p: RawPacket): unknown => {
    switch (p.type) {
      case PacketType.CONNECT:
        return decodeConnectProperties5(p.whole);
      case PacketType.PUBLISH:
        return decodePublish(p, true);
      case PacketType.SUBSCRIBE:
        return decodeSubscribe(p, true);
      case PacketType.UNSUBSCRIBE:
        return decodeUnsubscribe(p, true);
      case PacketType.DISCONNECT:
        return decodeDisconnect5(p);
      case PacketType.PINGREQ:
        return 'ping';
      default:
        return decodeAck5(p);
    }
  };
  try {
    for (const c of chunks)
      reader.push(c, (p) => {
        // Copies: a decoded payload may be a view of the chunk.
        out.push(JSON.parse(JSON.stringify(decode(p))));
      });
  } catch (err) {
    out.push(err instanceof MalformedPacket ? `malformed ${err.reasonCode}` : String(err));
  }
  return out;
}

describe('MQTT 5 split points', () => {
  const stream = Buffer.concat([
    CONNECT,
    ...CORPUS,
    v5({ cmd: 'disconnect', reasonCode: 4, properties: { sessionExpiryInterval: 0, reasonString: 'bye' } }),
    PINGREQ,
  ]);
  const whole = decodeAll([stream]);

  it('decodes the same packets whatever byte boundary the stream is cut at', () => {
    expect(whole).toHaveLength(CORPUS.length + 3);
    for (let cut = 0; cut <= stream.length; cut++)
      expect(decodeAll([stream.subarray(0, cut), stream.subarray(cut)]), `cut at ${cut}`).toEqual(whole);
  });

  it('and byte by byte', () => {
    expect(decodeAll([...stream].map((b) => Buffer.from([b])))).toEqual(whole);
  });
});
