/**
 * MQTT 5 server redirection (4.11) against a real broker: with a Server Reference configured,
 * a redirecting node answers CONNECT with CONNACK 0x9C or 0x9D and the reference, and a node
 * shutting down tells connected clients DISCONNECT 0x8B with it and clients still connecting
 * CONNACK 0x9C (0x8B is no CONNACK reason). Seen by mqtt.js (protocolVersion 5), paho and raw
 * sockets.
 */
import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';
import { connect5, pahoConnacks, raw5, type Raw5 } from './helpers.js';
import { ScramClient } from './scram-client.js';

const REFERENCE = 'standby.example:1883';
const v5 = { username: 'guest', password: 'guest', protocolVersion: 5 as const, reconnectPeriod: 0 };

/** The code mqtt.js reports for a CONNECT at `level`: 0 when it connected. */
const connectCode = (server: WsTestServer, level: 4 | 5): Promise<number | undefined> =>
  mqtt.connectAsync(server.url, { ...v5, protocolVersion: level }).then(
    (c) => c.endAsync().then(() => 0),
    (e: { code?: number }) => e.code,
  );

/**
 * A connected mqtt.js client (with the DISCONNECT it is told) and a raw client still
 * connecting (a SCRAM login waiting for its AUTH), and then the server shut down.
 */
async function shutDownWithClients(
  server: WsTestServer,
): Promise<{ told: IDisconnectPacket; pending: Raw5 }> {
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
  const result = { told: await told, pending };
  c.end(true);
  return result;
}

describe('MQTT 5 server redirection', () => {
  it('answers every CONNECT with 0x9C (temporary) or 0x9D (permanent) and the Server Reference', async () => {
    for (const [redirect, code] of [
      ['temporary', 0x9c],
      ['permanent', 0x9d],
    ] as const) {
      const server = await startMqttServer({ serverReference: REFERENCE, redirect });
      try {
        const c = await raw5(server.port);
        c.send(connect5(Buffer.alloc(0)));
        const ack = (await c.next('connack')) as IConnackPacket;
        expect([ack.reasonCode, ack.properties?.serverReference]).toEqual([code, REFERENCE]);
        await c.raw.closed;
        expect(await connectCode(server, 5)).toBe(code);
        // MQTT 3.1.1 has no redirection: server unavailable.
        expect(await connectCode(server, 4)).toBe(3);
        expect(await pahoConnacks(server.port, [{}])).toEqual([
          { reason: code, why: expect.stringContaining(REFERENCE), reference: REFERENCE },
        ]);
      } finally {
        await server.close();
      }
    }
  });

  it('at shutdown: DISCONNECT 0x8B with the reference, CONNACK 0x9C with it to a client still connecting', async () => {
    const { told, pending } = await shutDownWithClients(
      await startMqttServer({ serverReference: REFERENCE }),
    );
    expect([told.reasonCode, told.properties?.serverReference]).toEqual([0x8b, REFERENCE]);
    const ack = (await pending.next('connack')) as IConnackPacket;
    expect([ack.reasonCode, ack.properties?.serverReference]).toEqual([0x9c, REFERENCE]);
  });

  it('without a reference: CONNECT served; at shutdown DISCONNECT 0x8B alone, CONNACK 0x88 to a client connecting', async () => {
    const server = await startMqttServer();
    expect(await connectCode(server, 5)).toBe(0);
    const { told, pending } = await shutDownWithClients(server);
    expect([told.reasonCode, told.properties?.serverReference]).toEqual([0x8b, undefined]);
    const ack = (await pending.next('connack')) as IConnackPacket;
    expect([ack.reasonCode, ack.properties?.serverReference]).toEqual([0x88, undefined]);
    await until(() => pending.raw.isClosed(), 'the connecting client closed');
  });
});
