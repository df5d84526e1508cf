/**
 * A fleet of MQTT 3.1.1 devices on one broker: 19,000 concurrent connections (what a process
 * capped at 20,000 open files can hold beside its listeners), from client processes of 5,000
 * each on source addresses of their own (the bench's raw-socket fleet,
 * packages/bench/src/mqtt-fleet-worker.ts, the one copy of it), each subscribed to its own
 * topic and reached by the one message published to it, while the broker keeps serving an
 * mqtt.js client beside them. The broker's RSS growth per connection is asserted: memory is a
 * resource limit, not a timing (the time to connect is measured by `npm run bench -- --scenario
 * fleet`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMqttServer, until, type WsTestServer } from '@junction/testkit';

const DEVICES = 19_000;
const PER_PROCESS = 5_000;
/**
 * Broker RSS growth per held connection, KiB (DESIGN-NOTES, "What an MQTT device costs"): 5.6-6.5
 * measured here after the fourth pass (6.3-7.1 before it); the young generation's size at the
 * time moves it by up to ~1 KiB per device.
 */
const MAX_KIB_PER_CONNECTION = 7.5;
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

function startFleet(port: number, count: number, prefix: string, localAddress: string): Promise<Fleet> {
  const child = fork(fleetWorker, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const job = {
    kind: 'mqtt-fleet',
    host: '127.0.0.1',
    port,
    localAddress,
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

/** Every fleet's counts added up. */
async function total(fleets: Fleet[]): Promise<Counts> {
  const all = await Promise.all(fleets.map((f) => f.ask<Counts>('count')));
  const sum = (k: keyof Counts): number => all.reduce((a, c) => a + c[k], 0);
  return {
    held: sum('held'),
    received: sum('received'),
    failed: sum('failed'),
    lost: sum('lost'),
    unexpected: sum('unexpected'),
  };
}

describe(`${DEVICES} MQTT devices on one broker`, () => {
  let server: WsTestServer;
  const fleets: Fleet[] = [];

  beforeAll(async () => {
    server = await startMqttServer();
    // Source addresses picked per run: a device binds a fixed port on its address, and the
    // previous run's sockets may still be in TIME_WAIT there.
    const first = 2 + (process.pid % 50) * 5;
    const processes = Math.ceil(DEVICES / PER_PROCESS);
    for (let p = 0; p < processes; p++) {
      const count = Math.min(PER_PROCESS, DEVICES - p * PER_PROCESS);
      fleets.push(await startFleet(server.port, count, `fleet${p}`, `127.0.0.${first + p}`));
    }
  }, 60_000);
  afterAll(async () => {
    for (const f of fleets) f.child.kill();
    await server?.close();
  });

  it('holds every connection at a few KiB each, reaches each with its own publish, and serves another client meanwhile', async () => {
    const rssBefore = process.memoryUsage().rss;
    const up = await Promise.all(fleets.map((f) => f.ask<{ held: number; failed: number }>('connect')));
    expect(up.reduce((a, u) => a + u.held, 0)).toBe(DEVICES);
    expect([...server.adapter.connections()].length).toBe(DEVICES);

    await Promise.all(fleets.map((f) => f.ask('publish')));
    const counts = await until(
      async () => {
        const c = await total(fleets);
        return c.received === DEVICES && c;
      },
      `all ${DEVICES} devices getting their message`,
      60_000,
    );
    expect(counts).toEqual({ held: DEVICES, received: DEVICES, failed: 0, lost: 0, unexpected: 0 });
    const kibPerConnection = (process.memoryUsage().rss - rssBefore) / 1024 / DEVICES;
    console.log(`broker RSS growth: ${kibPerConnection.toFixed(2)} KiB per connection`);
    expect(kibPerConnection).toBeLessThanOrEqual(MAX_KIB_PER_CONNECTION);

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
    expect(await total(fleets)).toEqual({
      held: DEVICES,
      received: DEVICES,
      failed: 0,
      lost: 0,
      unexpected: 0,
    });
  }, 120_000);
});
