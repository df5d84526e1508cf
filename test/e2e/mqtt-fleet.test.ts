/**
 * A fleet of MQTT 3.1.1 devices on one broker: 2,000 connections from another process (the
 * bench's raw-socket fleet, packages/bench/src/mqtt-fleet-worker.ts, the one copy of it),
 * each subscribed to its own topic, each getting the one message published to it, while the
 * broker keeps serving an mqtt.js client beside them. Counts only: what a connection costs
 * (memory, time to connect) is measured by `npm run bench -- --scenario fleet`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';

const DEVICES = 2000;
const fleetWorker = fileURLToPath(new URL('../../packages/bench/src/mqtt-fleet-worker.ts', import.meta.url));

interface Fleet {
  child: ChildProcess;
  ask<T>(cmd: string): Promise<T>;
}

interface Counts {
  held: number;
  received: number;
  failed: number;
  lost: number;
  unexpected: number;
}

function startFleet(port: number, count: number, prefix: string): Promise<Fleet> {
  const child = fork(fleetWorker, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const job = {
    kind: 'mqtt-fleet',
    host: '127.0.0.1',
    port,
    localAddress: '127.0.0.2',
    count,
    prefix,
    concurrency: 32,
    username: 'guest',
    password: 'guest',
  };
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  child.on('message', (m: Record<string, unknown>) => waiting.shift()?.(m));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w({ error: `fleet process exited with ${code}` });
  });
  const ask = <T>(cmd: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.push((m) => (typeof m['error'] === 'string' ? reject(new Error(m['error'])) : resolve(m as T)));
      child.send({ cmd, job });
    });
  return ask('start').then(() => ({ child, ask }));
}

describe(`${DEVICES} MQTT devices on one broker`, () => {
  let server: WsTestServer;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await startMqttServer();
    fleet = await startFleet(server.port, DEVICES, 'fleet');
  });
  afterAll(async () => {
    fleet?.child.kill();
    await server?.close();
  });

  it('holds every connection, reaches each with its own publish, and serves another client meanwhile', async () => {
    const up = await fleet.ask<{ held: number; failed: number }>('connect');
    expect(up).toEqual({ held: DEVICES, failed: 0 });
    expect([...server.adapter.connections()].length).toBe(DEVICES);

    await fleet.ask('publish');
    const counts = await until(
      async () => {
        const c = await fleet.ask<Counts>('count');
        return c.received === DEVICES && c;
      },
      `all ${DEVICES} devices getting their message`,
      30_000,
    );
    expect(counts).toEqual({ held: DEVICES, received: DEVICES, failed: 0, lost: 0, unexpected: 0 });

    // Another client, beside the fleet: a round trip through the broker.
    const other = await mqtt.connectAsync(server.url, { username: 'guest', password: 'guest' });
    try {
      await other.subscribeAsync('beside/fleet', { qos: 1 });
      const got = new Promise<string>((resolve) => other.on('message', (_t, p) => resolve(p.toString())));
      await other.publishAsync('beside/fleet', 'still here', { qos: 1 });
      expect(await got).toBe('still here');
    } finally {
      await other.endAsync();
    }
    // No device was dropped while it was served, and none got anything twice or foreign.
    expect(await fleet.ask<Counts>('count')).toEqual({
      held: DEVICES,
      received: DEVICES,
      failed: 0,
      lost: 0,
      unexpected: 0,
    });
  });
});
