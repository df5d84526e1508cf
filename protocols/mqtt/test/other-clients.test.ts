/**
 * Debian's mosquitto-clients (the C library's command-line tools) against Junction:
 * mosquitto_sub receives what mosquitto_pub and an AMQP publisher send, retained included.
 * Debian's python3-paho-mqtt speaks MQTT 5 to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { runPython, startMqttServer, until, type WsTestServer } from '@junction/testkit';

const run = promisify(execFile);
let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer();
});
afterAll(async () => {
  await server.close();
});

const auth = (): string[] => ['-h', '127.0.0.1', '-p', String(server.port), '-u', 'guest', '-P', 'guest'];

describe('mosquitto-clients', () => {
  it('mosquitto_pub -> mosquitto_sub, with a retained message and an AMQP publisher', async () => {
    await run('mosquitto_pub', [...auth(), '-t', 'mosq/retained', '-m', 'kept', '-q', '1', '-r']);
    const sub = spawn('mosquitto_sub', [
      ...auth(),
      '-t',
      'mosq/#',
      '-q',
      '1',
      '-v',
      '-C',
      '3',
      '-i',
      'mosq-sub',
    ]);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => sub.once('exit', (code) => r(code)));
    await until(
      () =>
        [...server.adapter.connections()].some(
          (c) => c.clientId === 'mosq-sub' && c.subscriptions?.length === 1,
        ),
      'mosquitto_sub subscribed',
    );
    await until(() => out.includes('kept'), 'retained message');
    await run('mosquitto_pub', [...auth(), '-t', 'mosq/v1.0/live', '-m', 'from mosquitto_pub', '-q', '2']);
    const conn = await amqplib.connect(server.amqpUrl);
    const ch = await conn.createConfirmChannel();
    ch.publish('amq.topic', 'mosq.amqp', Buffer.from('from amqplib'), { deliveryMode: 2 });
    await ch.waitForConfirms();
    expect(await exited).toBe(0);
    expect(out.trim().split('\n')).toEqual([
      'mosq/retained kept',
      'mosq/v1.0/live from mosquitto_pub',
      'mosq/amqp from amqplib',
    ]);
    await conn.close();
  });

  it('mosquitto_pub with a wrong password is refused', async () => {
    const failed = await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(server.port),
      '-u',
      'guest',
      '-P',
      'nope',
      '-t',
      'x',
      '-m',
      'y',
    ]).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toMatch(/not authori[sz]ed|bad user ?name or password/i);
  });
});

describe('paho-mqtt (MQTT 5)', () => {
  it('gets CONNACK reason codes, the server capability properties, Response Information and the capped Session Expiry Interval, and a QoS 1 round trip', async () => {
    const script = fileURLToPath(new URL('./clients/paho_v5.py', import.meta.url));
    expect(await runPython(script, [String(server.port)], 20_000)).toEqual({
      bad_password: 0x86,
      ok: 0,
      assigned: true,
      connack: {
        ReceiveMaximum: 65535,
        MaximumPacketSize: 16 * 1024 * 1024,
        RetainAvailable: 1,
        TopicAliasMaximum: 64,
        WildcardSubscriptionAvailable: 1,
        SubscriptionIdentifierAvailable: 1,
        SharedSubscriptionAvailable: 1,
      },
      received: { payload: 'from paho v5', qos: 1 },
      response_information: 'reply/paho5-rri/',
      session_expiry: 604_800,
    });
  });
});
