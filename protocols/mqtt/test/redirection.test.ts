/**
 * MQTT 5 server redirection (4.11) against a real broker: with a Server Reference configured,
 * a redirecting node answers CONNECT with CONNACK 0x9C or 0x9D and the reference, and a node
 * shutting down tells connected clients DISCONNECT 0x8B with it and clients still connecting
 * CONNACK 0x9C (0x8B is no CONNACK reason). Seen by mqtt.js (protocolVersion 5) and raw sockets.
 */
import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';
import type { MqttConfig } from '../src/config.js';
import { raw5 } from './helpers.js';
import { ScramClient } from './scram-client.js';

const REFERENCE = 'standby.example:1883';
const v5 = { username: 'guest', password: 'guest', protocolVersion: 5 as const, reconnectPeriod: 0 };

async function withServer(
  config: Partial<MqttConfig>,
  body: (s: WsTestServer) => Promise<void>,
): Promise<void> {
  const server = await startMqttServer(config);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** A raw MQTT 5 CONNECT as guest: the CONNACK it gets. */
async function connackFor(server: WsTestServer): Promise<IConnackPacket> {
  const c = await raw5(server.port);
  c.send({
    cmd: 'connect',
    protocolVersion: 5,
    clientId: '',
    username: 'guest',
    password: Buffer.from('guest'),
  });
  const ack = (await c.next('connack')) as IConnackPacket;
  await c.raw.closed;
  return ack;
}

describe('MQTT 5 server redirection', () => {
  it('answers every CONNECT with 0x9C (temporary) or 0x9D (permanent) and the Server Reference', async () => {
    for (const [redirect, code] of [
      ['temporary', 0x9c],
      ['permanent', 0x9d],
    ] as const) {
      await withServer({ serverReference: REFERENCE, redirect }, async (server) => {
        const ack = await connackFor(server);
        expect([ack.reasonCode, ack.properties?.serverReference]).toEqual([code, REFERENCE]);
        const err = await mqtt.connectAsync(server.url, v5).then(
          () => ({ code: 0 }),
          (e: { code?: number }) => e,
        );
        expect(err.code).toBe(code);
        // MQTT 3.1.1 has no redirection: server unavailable.
        const old = await mqtt.connectAsync(server.url, { ...v5, protocolVersion: 4 }).then(
          () => ({ code: 0 }),
          (e: { code?: number }) => e,
        );
        expect(old.code).toBe(3);
      });
    }
  });

  it('at shutdown: DISCONNECT 0x8B with the reference, CONNACK 0x9C with it to a client still connecting', async () => {
    const server = await startMqttServer({ serverReference: REFERENCE });
    const c = await mqtt.connectAsync(server.url, { ...v5, clientId: 'leaving' });
    const told = new Promise<IDisconnectPacket>((r) => c.once('disconnect', r));
    // A SCRAM login waits for its AUTH: connecting while the node goes down.
    const scram = new ScramClient('guest', 'guest');
    const pending = await raw5(server.port);
    pending.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'arriving',
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.clientFirst() },
    });
    await pending.next('auth');
    await server.close();
    const d = await told;
    expect([d.reasonCode, d.properties?.serverReference]).toEqual([0x8b, REFERENCE]);
    const ack = (await pending.next('connack')) as IConnackPacket;
    expect([ack.reasonCode, ack.properties?.serverReference]).toEqual([0x9c, REFERENCE]);
    c.end(true);
  });

  it('without a reference: DISCONNECT 0x8B alone, CONNACK 0x88 to a client still connecting, CONNECT served', async () => {
    const server = await startMqttServer();
    expect(
      (await mqtt.connectAsync(server.url, v5).then((x) => x.endAsync().then(() => 'served'))) as string,
    ).toBe('served');
    const c = await mqtt.connectAsync(server.url, v5);
    const told = new Promise<IDisconnectPacket>((r) => c.once('disconnect', r));
    const pending = await raw5(server.port);
    pending.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'arriving',
      properties: {
        authenticationMethod: 'SCRAM-SHA-256',
        authenticationData: new ScramClient('guest', 'guest').clientFirst(),
      },
    });
    await pending.next('auth');
    await server.close();
    const d = await told;
    expect([d.reasonCode, d.properties?.serverReference]).toEqual([0x8b, undefined]);
    const ack = (await pending.next('connack')) as IConnackPacket;
    expect([ack.reasonCode, ack.properties?.serverReference]).toEqual([0x88, undefined]);
    await until(() => pending.raw.isClosed(), 'the connecting client closed');
    c.end(true);
  });
});
