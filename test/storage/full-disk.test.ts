/**
 * A full disk, for real: the broker's data directory is on a small tmpfs mounted by the test
 * (as root, which this machine and CI are). With the disk free limit, persistent publishers
 * on every protocol (amqplib, mqtt.js, stompit) are blocked before the disk fills and the alarm
 * shows in the logs, the management API and /metrics; without it, the store's writes fail once the disk is full, publishers get
 * nacks, and the broker stays up and keeps serving.
 */
import { mkdirSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, stompitClient, until } from '@junction/testkit';
import { startBrokerProcess, type Running } from './crash-harness.js';
import { smallDisk } from './small-disk.js';

const MiB = 2 ** 20;
const disk = smallDisk('48m', 'full-disk');
let n = 0;

const admin = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

/** The broker on a fresh data directory on the tmpfs; its log lines are collected. */
async function brokerOnTmpfs(
  diskFreeLimit: string,
  more: string[] = [],
): Promise<Running & { logs: string[] }> {
  const dir = join(disk.path(), `data-${n++}`);
  for (const e of readdirSync(disk.path())) rmSync(join(disk.path(), e), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const b = await startBrokerProcess([
    '--storage',
    'embedded',
    '--data-dir',
    dir,
    '--disk-free-limit',
    diskFreeLimit,
    ...more,
  ]);
  const logs: string[] = [];
  b.child.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
  b.child.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  return { ...b, logs };
}

/** Publishes 64 KiB persistent messages with confirms until `stop()`; counts acks and nacks. */
function flood(
  ch: amqp.ConfirmChannel,
  stop: (counts: { acked: number; nacked: number }) => boolean,
): { acked: number; nacked: number; done: Promise<void> } {
  const body = Buffer.alloc(64 * 1024, 0x61);
  const out = { acked: 0, nacked: 0, done: Promise.resolve() };
  out.done = (async () => {
    while (!stop(out)) {
      // A window of 8 in flight: the publisher keeps the store busy without a deep backlog.
      await Promise.all(
        Array.from(
          { length: 8 },
          () =>
            new Promise<void>((resolve) =>
              ch.sendToQueue('big', body, { persistent: true }, (err) => {
                if (err) out.nacked++;
                else out.acked++;
                resolve();
              }),
            ),
        ),
      );
    }
  })();
  return out;
}

describe('a full disk', () => {
  let b: (Running & { logs: string[] }) | undefined;
  afterAll(() => {
    if (b?.child.exitCode === null) b.child.kill('SIGKILL');
  });

  it('with no disk free limit: the store fails, publishers get nacks, the broker stays up', async () => {
    b = await brokerOnTmpfs('0');
    const conn = await amqp.connect(b.amqpUrl);
    conn.on('error', () => {});
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    await ch.assertQueue('big', { durable: true });
    const f = flood(ch, (c) => c.nacked > 0 || b!.child.exitCode !== null);
    await f.done;
    expect(f.nacked, 'the store reported the full disk as nacks').toBeGreaterThan(0);
    expect(f.acked).toBeGreaterThan(10);
    // Give discarded store promises time to reject; the process must not end on them.
    const exited = await Promise.race([
      b.exited.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 3000)),
    ]);
    expect(exited, `broker exited: ${b.logs.join('').slice(-2000)}`).toBe(false);
    expect((await fetch(`${b.httpUrl}/healthz`)).status).toBe(200);
    // It still serves: a fresh client reads back what was confirmed.
    const other = await amqp.connect(b.amqpUrl);
    const och = await other.createChannel();
    const { messageCount } = await och.checkQueue('big');
    expect(messageCount).toBeGreaterThanOrEqual(f.acked);
    await other.close();
    await closeAll([() => conn.close()]);
    b.child.kill('SIGKILL');
    await b.exited;
  }, 120_000);

  it('with a disk free limit: publishers are blocked before the disk fills, and everyone is told', async () => {
    b = await brokerOnTmpfs('16MB', [
      ...['--mqtt-port', '0', '--mqtt-host', '127.0.0.1'],
      ...['--stomp-port', '0', '--stomp-host', '127.0.0.1'],
    ]);
    const conn = await amqp.connect(b.amqpUrl);
    conn.on('error', () => {});
    let blocked = '';
    conn.on('blocked', (reason: string) => (blocked = reason));
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    await ch.assertQueue('big', { durable: true });
    const f = flood(ch, () => blocked !== '');
    await until(() => blocked !== '', 'connection.blocked', 20_000);
    expect(blocked).toBe('low on disk space');
    expect(f.nacked, `nothing was refused: the alarm came first ${b.logs.join('').slice(-3000)}`).toBe(0);
    expect(statfsSync(disk.path()).bavail * statfsSync(disk.path()).bsize).toBeGreaterThan(MiB);
    await until(() => b!.logs.join('').includes('disk alarm set'), 'the log line', 20_000);
    const overview = (await (await fetch(`${b.httpUrl}/api/overview`, { headers: admin })).json()) as {
      alarms: { resource: string }[];
    };
    expect(overview.alarms.map((a) => a.resource)).toEqual(['disk']);
    const node = (await (await fetch(`${b.httpUrl}/api/nodes`, { headers: admin })).json()) as {
      disk_free_alarm: boolean;
      disk_free_limit: number;
    }[];
    expect(node[0]).toMatchObject({ disk_free_alarm: true, disk_free_limit: 16_000_000 });
    expect((await fetch(`${b.httpUrl}/api/health/checks/alarms`, { headers: admin })).status).toBe(503);
    const metrics = await (await fetch(`${b.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^junction_alarm\{resource="disk"\} 1$/m);
    expect(metrics).toMatch(/^junction_disk_free_limit_bytes 16000000$/m);
    // The alarm is the broker's, not AMQP's: MQTT QoS 1 and STOMP persistent publishes block
    // their connections too. The PUBLISH that finds the alarm is read and handled (as in
    // RabbitMQ: one message per connection), then the connection blocks and the next PUBLISH
    // waits unread, without a PUBACK; STOMP holds the SEND that finds the alarm, without a RECEIPT.
    const blockedProtocols = async (): Promise<string[]> =>
      (
        (await (await fetch(`${b!.httpUrl}/api/connections`, { headers: admin })).json()) as {
          protocol: string;
          state: string;
        }[]
      )
        .filter((c) => c.state === 'blocked')
        .map((c) => c.protocol.split(' ')[0]!)
        // The AMQP flood may have had one more publish on the wire when connection.blocked
        // arrived, which blocks its connection too; only MQTT and STOMP are watched here.
        .filter((protocol) => protocol !== 'AMQP')
        .sort();
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.ports['mqtt']}`, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    await device.publishAsync('disk/full', 'finds the alarm', { qos: 1 });
    await until(
      async () => (await blockedProtocols()).join() === 'MQTT',
      'the MQTT publisher blocked',
      20_000,
    );
    let puback = false;
    device.publish('disk/full', 'held', { qos: 1 }, () => (puback = true));
    const stomp = await stompitClient(b.ports['stomp']!);
    let receipt = false;
    stomp.on('receipt', () => (receipt = true));
    stomp.send({ destination: '/queue/big', persistent: 'true', receipt: 'held' }).end('held');
    await until(
      async () => (await blockedProtocols()).join() === 'MQTT,STOMP',
      'the STOMP publisher blocked',
      20_000,
    );
    expect({ puback, receipt }).toEqual({ puback: false, receipt: false });
    device.stream.destroy();
    stomp.destroy(new Error('test over'));
    // The broker still serves reads (the alarm stays on: the space of a segment file comes
    // back only once the whole segment is consumed).
    const got = await fetch(`${b.httpUrl}/api/queues/%2F/big/get`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' }),
    });
    expect(got.status).toBe(200);
    expect(((await got.json()) as { payload_bytes: number }[])[0]?.payload_bytes).toBe(64 * 1024);
    // A clean stop with blocked publishers still connected.
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 120_000);
});
