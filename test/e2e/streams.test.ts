/**
 * Streams (`x-queue-type: stream`) with real clients, on the memory, embedded and Redis stores:
 * amqplib declares a stream; MQTT and AMQP publish 10,000 messages into it; consumers attach
 * at `first` and at a timestamp and each reads exactly its part, with `x-stream-offset` and
 * `x-stream-timestamp` on every delivery; a STOMP subscriber tails it; refusals are RabbitMQ's
 * (406 without prefetch, 540 for auto-ack and basic.get); named consumers resume; retention by
 * size and age drops whole segments while a reader reads; compaction keeps the latest per key;
 * producer stamps deduplicate; a restart on the embedded store keeps all of it.
 */
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { MemoryStore, type QueueRef, type Store, type StreamLog, type StreamSettings } from '@junction/core';
import { startRedis, stompitClient, tempDirs, until, type RedisServer } from '@junction/testkit';
import { startBroker, type BrokerHandle } from '@junction/server';
import { LmdbStore } from '@junction/storage-lmdb';
import { RedisStore } from '@junction/storage-redis';

const dirs = tempDirs();
let redis: RedisServer | undefined;
afterAll(async () => redis?.cleanup());
const stores: [string, () => Promise<Store | 'memory'>][] = [
  ['memory', async () => 'memory'],
  ['embedded', async () => new LmdbStore({ dir: dirs.make('junction-streams-') })],
  ['Redis', async () => new RedisStore({ url: (redis ??= await startRedis()).url, keyPrefix: 'streams:' })],
];

/** Consumes `queue` from `offset` until `n` messages came, acking each; returns them. */
async function readStream(
  ch: Channel,
  queue: string,
  offset: unknown,
  n: number,
  prefetch = 500,
  more: Record<string, unknown> = {},
): Promise<ConsumeMessage[]> {
  await ch.prefetch(prefetch);
  const got: ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume(
    queue,
    (m) => {
      if (!m) return;
      got.push(m);
      ch.ack(m);
    },
    { arguments: { 'x-stream-offset': offset, ...more } },
  );
  await until(() => got.length >= n, `${n} messages of ${queue} from ${JSON.stringify(offset)}`, 20_000);
  await ch.cancel(consumerTag);
  return got;
}

/**
 * Joins consumer group `group` (single active consumer) on each of `queues`, from `first`, with
 * prefetch 10, acking each delivery; a body `key:n` is handed to `seen` with its queue's index.
 */
async function groupMember(
  conn: ChannelModel,
  queues: readonly string[],
  group: string,
  seen: (queue: number, key: string, n: number) => void,
): Promise<void> {
  const ch = await conn.createChannel();
  await ch.prefetch(10);
  for (const [i, queue] of queues.entries())
    await ch.consume(
      queue,
      (m) => {
        if (!m) return;
        const [key, n] = m.content.toString().split(':') as [string, string];
        seen(i, key, Number(n));
        ch.ack(m);
      },
      {
        arguments: {
          'x-stream-offset': 'first',
          'x-stream-consumer-name': group,
          'x-single-active-consumer': true,
        },
      },
    );
}

/** The channel's close: its reply code and text, once the broker closed it. */
function closed(ch: Channel): Promise<string> {
  return new Promise((resolve) => ch.once('error', (err: Error) => resolve(err.message)));
}

describe.each(stores)('streams on the %s store', (_name, makeStore) => {
  let b: BrokerHandle;
  beforeAll(async () => {
    const storage = await makeStore();
    b = await startBroker({
      ports: { amqp: 0, mqtt: 0, stomp: 0 },
      ...(storage === 'memory' ? {} : { storage }),
    });
  });
  afterAll(async () => b.close());

  it('10,000 messages from MQTT and AMQP; readers at first and at a timestamp get exactly theirs', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('sensors', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    await ch.bindQueue('sensors', 'amq.topic', 'sensors.#');
    const device = await mqtt.connectAsync(b.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    const half = 5000;
    await Promise.all(
      Array.from({ length: half }, (_, i) =>
        device.publishAsync('sensors/kitchen/temp', `mqtt-${i}`, { qos: 1 }),
      ),
    );
    await device.endAsync();
    // The AMQP half starts on a second boundary, so an AMQP timestamp (whole seconds) splits the two.
    const second = Math.ceil((Date.now() + 1) / 1000);
    await until(() => Date.now() >= second * 1000, 'the next second');
    for (let i = 0; i < half; i++) ch.publish('amq.topic', 'sensors.hall.temp', Buffer.from(`amqp-${i}`));
    await ch.waitForConfirms();

    const reader = await conn.createChannel();
    const all = await readStream(reader, 'sensors', 'first', 2 * half);
    expect(all.map((m) => m.content.toString())).toEqual([
      ...Array.from({ length: half }, (_, i) => `mqtt-${i}`),
      ...Array.from({ length: half }, (_, i) => `amqp-${i}`),
    ]);
    expect(all.map((m) => m.properties.headers?.['x-stream-offset'])).toEqual(all.map((_, i) => i));
    const ts = all.map((m) => m.properties.headers?.['x-stream-timestamp'] as number);
    expect(ts.every((t, i) => i === 0 || t >= ts[i - 1]!)).toBe(true);
    expect(ts[half]!).toBeGreaterThanOrEqual(second * 1000);
    expect(all[0]!.fields.routingKey).toBe('sensors.kitchen.temp');

    const late = await readStream(reader, 'sensors', { '!': 'timestamp', value: second }, half);
    expect(late.map((m) => m.content.toString())).toEqual(
      Array.from({ length: half }, (_, i) => `amqp-${i}`),
    );
    expect(late[0]!.properties.headers?.['x-stream-offset']).toBe(half);
    // Nothing was removed by reading: the stream still holds all of them.
    expect((await reader.checkQueue('sensors')).messageCount).toBe(2 * half);
    await conn.close();
  });

  it('a STOMP subscriber tails the stream, each MESSAGE with its offset', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('tail', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    ch.sendToQueue('tail', Buffer.from('before'));
    await ch.waitForConfirms();
    const stomp = await stompitClient(b.ports.stomp!);
    const got: { offset: string | undefined; body: string }[] = [];
    stomp.subscribe(
      {
        destination: '/amq/queue/tail',
        ack: 'client-individual',
        'prefetch-count': '10',
        'x-stream-offset': 'next',
      },
      (err, m) => {
        if (err) {
          process.stderr.write('ERRDBG ' + String(err) + JSON.stringify(err) + '\n');
          return;
        }
        const headers = (m as unknown as { headers: Record<string, string> }).headers;
        m.readString('utf8', (_e, body) => {
          got.push({ offset: headers['x-stream-offset'], body: body ?? '' });
          stomp.ack(m);
        });
      },
    );
    await b.waitFor.consumer('tail');
    for (let i = 0; i < 50; i++) ch.sendToQueue('tail', Buffer.from(`live-${i}`));
    await ch.waitForConfirms();
    await until(() => got.length === 50, '50 STOMP messages');
    expect(got.map((g) => g.body)).toEqual(Array.from({ length: 50 }, (_, i) => `live-${i}`));
    expect(got.map((g) => g.offset)).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    await new Promise<void>((r) => stomp.disconnect(() => r()));
    await conn.close();
  });

  it('refuses as RabbitMQ does: no prefetch (406), auto-ack (540), basic.get (540), bad offsets and names (406)', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    conn.on('error', () => {});
    const setup = await conn.createChannel();
    await setup.assertQueue('strict', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const ch = await conn.createChannel();
    const noPrefetch = closed(ch);
    await expect(ch.consume('strict', () => {})).rejects.toThrow(/406/);
    expect(await noPrefetch).toContain(
      "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - consumer prefetch count is not set for stream queue 'strict' in vhost '/'\"",
    );
    for (const [args, why] of [
      [{ 'x-stream-offset': 'yesterday' }, "invalid arg 'x-stream-offset'"],
      [{ 'x-stream-offset': -3 }, "invalid arg 'x-stream-offset'"],
      [{ 'x-stream-consumer-name': '' }, "invalid arg 'x-stream-consumer-name'"],
    ] as const) {
      const c = await conn.createChannel();
      await c.prefetch(10);
      const err = closed(c);
      await expect(c.consume('strict', () => {}, { arguments: args })).rejects.toThrow(/406/);
      expect(await err).toContain(why);
    }
    const d = await conn.createChannel();
    const badDeclare = closed(d);
    await expect(
      d.assertQueue('bad-age', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-age': '7d' } }),
    ).rejects.toThrow(/406/);
    expect(await badDeclare).toContain("invalid arg 'x-max-age'");
    // The connection and the stream are untouched by all of that.
    expect((await setup.checkQueue('strict')).messageCount).toBe(0);

    const auto = await amqp.connect(b.amqpUrl!);
    const autoClosed = new Promise<string>((r) => auto.once('error', (e: Error) => r(e.message)));
    const ach = await auto.createChannel();
    ach.on('error', () => {});
    await ach.prefetch(10);
    await expect(ach.consume('strict', () => {}, { noAck: true })).rejects.toThrow();
    expect(await autoClosed).toContain(
      "540 (NOT-IMPLEMENTED) with message \"NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queue 'strict' in vhost '/'\"",
    );
    const get = await amqp.connect(b.amqpUrl!);
    const getClosed = new Promise<string>((r) => get.once('error', (e: Error) => r(e.message)));
    const gch = await get.createChannel();
    gch.on('error', () => {});
    await expect(gch.get('strict')).rejects.toThrow();
    expect(await getClosed).toContain("basic.get not supported by stream queues queue 'strict' in vhost '/'");
    const purge = await amqp.connect(b.amqpUrl!);
    const purgeClosed = new Promise<string>((r) => purge.once('error', (e: Error) => r(e.message)));
    const pch = await purge.createChannel();
    pch.on('error', () => {});
    await expect(pch.purgeQueue('strict')).rejects.toThrow();
    expect(await purgeClosed).toContain("queue.purge not supported by stream queues queue 'strict'");
    await conn.close();
  });

  it('a named consumer resumes after its last ack; producer stamps deduplicate resends', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('ledger', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const stamp = (seq: number) => ({
      headers: { 'x-stream-producer': 'billing', 'x-stream-sequence': seq },
    });
    for (let seq = 1; seq <= 10; seq++) ch.sendToQueue('ledger', Buffer.from(`e${seq}`), stamp(seq));
    await ch.waitForConfirms();
    // A producer reconnecting resends from 6: only 11-15 are new.
    for (let seq = 6; seq <= 15; seq++) ch.sendToQueue('ledger', Buffer.from(`e${seq}`), stamp(seq));
    await ch.waitForConfirms();
    expect((await ch.checkQueue('ledger')).messageCount).toBe(15);
    // Half a stamp would turn deduplication off unnoticed: the stream refuses it (a nack).
    const refused = new Promise<Error | null>((resolve) =>
      ch.sendToQueue('ledger', Buffer.from('half'), { headers: { 'x-stream-producer': 'billing' } }, (err) =>
        resolve(err as Error | null),
      ),
    );
    expect(await refused).toBeInstanceOf(Error);
    expect((await ch.checkQueue('ledger')).messageCount).toBe(15);

    const reader = await conn.createChannel();
    await reader.prefetch(5);
    const first: string[] = [];
    const { consumerTag } = await reader.consume(
      'ledger',
      (m) => {
        if (!m || first.length >= 7) return;
        first.push(m.content.toString());
        reader.ack(m);
      },
      { arguments: { 'x-stream-offset': 'first', 'x-stream-consumer-name': 'invoicer' } },
    );
    await until(() => first.length === 7, 'seven acked');
    await reader.cancel(consumerTag);
    await conn.close();

    const again = await amqp.connect(b.amqpUrl!);
    const rch = await again.createChannel();
    await rch.prefetch(5);
    const rest: string[] = [];
    await rch.consume(
      'ledger',
      (m) => {
        if (!m) return;
        rest.push(m.content.toString());
        rch.ack(m);
      },
      { arguments: { 'x-stream-offset': 'first', 'x-stream-consumer-name': 'invoicer' } },
    );
    await until(() => rest.length >= 8, 'the rest');
    expect(first).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
    expect(rest).toEqual(['e8', 'e9', 'e10', 'e11', 'e12', 'e13', 'e14', 'e15']);
    await again.close();
  });

  it('retention by size and by age deletes whole segments while a reader keeps reading', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    const segment = { 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': 4096 };
    await ch.assertQueue('by-size', {
      durable: true,
      arguments: { ...segment, 'x-max-length-bytes': 20_000 },
    });
    await ch.assertQueue('by-age', { durable: true, arguments: { ...segment, 'x-max-age': '1s' } });
    const body = Buffer.alloc(200, 'x');
    // A slow reader on by-size: prefetch 1, one ack per 20 ms while 1,000 messages go in.
    const reader = await conn.createChannel();
    await reader.prefetch(1);
    const offsets: number[] = [];
    let reading = true;
    // Acks still pending when the test ends (passed or failed) are not sent on a closed channel.
    onTestFinished(() => {
      reading = false;
    });
    await reader.consume(
      'by-size',
      (m) => {
        if (!m) return;
        offsets.push(m.properties.headers?.['x-stream-offset'] as number);
        setTimeout(() => reading && reader.ack(m), 20);
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
    for (let i = 0; i < 1000; i++) {
      ch.sendToQueue('by-size', body);
      ch.sendToQueue('by-age', body);
    }
    await ch.waitForConfirms();
    // Size: about 20 KB of 200-byte messages stay (whole segments go, as appends arrive).
    await until(async () => (await ch.checkQueue('by-size')).messageCount < 200, 'size retention');
    // The reader was moved past what retention deleted and keeps reading, in order.
    await until(
      () => offsets.length > 20 && offsets.at(-1)! > 900,
      'the reader past the deleted segments',
      15_000,
    );
    expect(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!)).toBe(true);
    expect(offsets.some((o, i) => i > 0 && o > offsets[i - 1]! + 1)).toBe(true);
    // Age: after a second, the closed segments go (the one being written stays).
    ch.sendToQueue('by-age', body);
    await ch.waitForConfirms();
    await until(async () => (await ch.checkQueue('by-age')).messageCount < 100, 'age retention', 10_000);
    // A reader from first starts past everything age retention deleted, and reads to the end.
    const fresh = await conn.createChannel();
    await fresh.prefetch(100);
    const aged: number[] = [];
    await fresh.consume(
      'by-age',
      (m) => {
        if (!m) return;
        aged.push(m.properties.headers?.['x-stream-offset'] as number);
        fresh.ack(m);
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
    await until(() => aged.at(-1) === 1000, 'the last message of by-age');
    expect(aged[0]).toBeGreaterThan(900);
    reading = false;
    await conn.close();
  });

  it('compaction keeps the latest message per routing key', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('prices', {
      durable: true,
      arguments: {
        'x-queue-type': 'stream',
        'x-stream-compact': true,
        'x-stream-max-segment-size-bytes': 4096,
      },
    });
    await ch.assertExchange('quotes', 'direct');
    const keys = Array.from({ length: 10 }, (_, i) => `sym-${i}`);
    for (const k of keys) await ch.bindQueue('prices', 'quotes', k);
    for (let round = 0; round < 50; round++)
      for (const k of keys) ch.publish('quotes', k, Buffer.from(`${k}=${round}`));
    await ch.waitForConfirms();
    // Compaction runs (again) in the background: wait for its first pass, then read through to
    // the last message published, whatever later passes remove meanwhile.
    await until(async () => (await ch.checkQueue('prices')).messageCount < 500, 'compaction');
    const reader = await conn.createChannel();
    await reader.prefetch(100);
    const got: ConsumeMessage[] = [];
    await reader.consume(
      'prices',
      (m) => {
        if (!m) return;
        got.push(m);
        reader.ack(m);
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
    await until(() => got.at(-1)?.properties.headers?.['x-stream-offset'] === 499, 'the last offset');
    expect(got.length).toBeLessThan(500);
    const latest = new Map<string, number>();
    for (const m of got) {
      const [k, v] = m.content.toString().split('=') as [string, string];
      // Per key the values still rise: compaction drops superseded entries, never reorders.
      expect(Number(v)).toBeGreaterThan(latest.get(k) ?? -1);
      latest.set(k, Number(v));
    }
    for (const k of keys) expect(latest.get(k)).toBe(49);
    await conn.close();
  });

  it('every property of the cross-protocol mapping survives into the stream and out to AMQP and STOMP', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('mapped', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    await ch.bindQueue('mapped', 'amq.topic', 'mapped.#');
    const amqpProps = {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      deliveryMode: 2,
      priority: 5,
      correlationId: 'corr-1',
      replyTo: 'replies',
      expiration: '60000',
      messageId: 'm-1',
      timestamp: 1_700_000_000,
      type: 'order.created',
      userId: 'guest',
      appId: 'shop',
    };
    ch.publish('amq.topic', 'mapped.amqp', Buffer.from('from amqp'), {
      ...amqpProps,
      headers: { tenant: 'acme', n: 5, flag: true },
    });
    await ch.waitForConfirms();
    const v5 = await mqtt.connectAsync(b.mqttUrl!, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
      protocolVersion: 5,
    });
    await v5.publishAsync('mapped/mqtt', 'from mqtt', {
      qos: 1,
      properties: {
        contentType: 'text/plain',
        correlationData: Buffer.from('corr-2'),
        responseTopic: 'replies/device-1',
        messageExpiryInterval: 60,
        payloadFormatIndicator: true,
        userProperties: { tenant: 'acme', tag: ['a', 'b'] },
      },
    });
    await v5.endAsync();
    const stomp = await stompitClient(b.ports.stomp!);
    await new Promise<void>((resolve, reject) =>
      stomp
        .send(
          {
            destination: '/topic/mapped.stomp',
            'content-type': 'text/csv',
            persistent: 'true',
            priority: '3',
            'correlation-id': 'corr-3',
            'reply-to': '/queue/answers',
            'amqp-message-id': 'm-3',
            type: 'row',
            'app-id': 'sheet',
            tenant: 'acme',
          },
          { onReceipt: () => resolve(), onError: reject } as never,
        )
        .end('from stomp'),
    );

    const got = await readStream(await conn.createChannel(), 'mapped', 'first', 3);
    const [a, m, st] = got.map((g) => g.properties);
    expect(a).toMatchObject({
      ...amqpProps,
      headers: { tenant: 'acme', n: 5, flag: true, 'x-stream-offset': 0 },
    });
    expect(m).toMatchObject({
      contentType: 'text/plain',
      correlationId: 'corr-2',
      replyTo: 'replies.device-1',
      expiration: '60000',
      headers: { tenant: 'acme', tag: ['a', 'b'], 'x-mqtt-payload-format': 1, 'x-stream-offset': 1 },
    });
    expect(st).toMatchObject({
      contentType: 'text/csv',
      deliveryMode: 2,
      priority: 3,
      correlationId: 'corr-3',
      messageId: 'm-3',
      type: 'row',
      appId: 'sheet',
      headers: { tenant: 'acme', 'x-stream-offset': 2 },
    });
    expect(st!.replyTo).toContain('answers');

    // Out to STOMP: the same message, as STOMP headers.
    const out: Record<string, string>[] = [];
    const sub = await stompitClient(b.ports.stomp!);
    sub.subscribe(
      {
        destination: '/amq/queue/mapped',
        ack: 'client',
        'prefetch-count': '10',
        'x-stream-offset': 'offset=0',
      },
      (err, msg) => {
        if (err) return;
        const headers = (msg as unknown as { headers: Record<string, string> }).headers;
        msg.readString('utf8', () => {
          out.push(headers);
          sub.ack(msg);
        });
      },
    );
    await until(() => out.length === 3, 'three STOMP messages');
    expect(out[0]).toMatchObject({
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      persistent: 'true',
      priority: '5',
      'correlation-id': 'corr-1',
      'reply-to': 'replies',
      expiration: '60000',
      'amqp-message-id': 'm-1',
      timestamp: '1700000000',
      type: 'order.created',
      'user-id': 'guest',
      'app-id': 'shop',
      tenant: 'acme',
      'x-stream-offset': '0',
    });
    expect(out[1]).toMatchObject({
      'content-type': 'text/plain',
      'correlation-id': 'corr-2',
      'x-stream-offset': '1',
    });
    expect(out[2]).toMatchObject({
      'content-type': 'text/csv',
      'amqp-message-id': 'm-3',
      'x-stream-offset': '2',
    });
    await new Promise<void>((r) => sub.disconnect(() => r()));
    await new Promise<void>((r) => stomp.disconnect(() => r()));
    await conn.close();
  });

  it('deleting a stream cancels its consumers and drops its log', async () => {
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('doomed', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    for (let i = 0; i < 10; i++) ch.sendToQueue('doomed', Buffer.from(`d${i}`));
    await ch.waitForConfirms();
    const reader = await conn.createChannel();
    await reader.prefetch(5);
    let cancelled = false;
    await reader.consume('doomed', (m) => {
      if (m === null) cancelled = true; // basic.cancel from the broker
    });
    expect(await ch.deleteQueue('doomed')).toMatchObject({ messageCount: 10 });
    await until(() => cancelled, 'the consumer cancel');
    await ch.assertQueue('doomed', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    expect((await ch.checkQueue('doomed')).messageCount).toBe(0);
    await conn.close();
  });

  it('a partitioned stream with a consumer group of 3 keeps per-key order while members join and leave', async () => {
    const partitions = 6;
    const conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('orders', 'x-super-stream', { durable: true });
    for (let p = 0; p < partitions; p++) {
      await ch.assertQueue(`orders-${p}`, { durable: true, arguments: { 'x-queue-type': 'stream' } });
      await ch.bindQueue(`orders-${p}`, 'orders', String(p), { 'x-stream-partition-order': p });
    }
    /** Every delivery, in the order the members' clients saw them: [member, key, sequence]. */
    const seen: [string, string, number][] = [];
    const queues = Array.from({ length: partitions }, (_, p) => `orders-${p}`);
    const member = async (id: string) => {
      const c = await amqp.connect(b.amqpUrl!);
      // Every member consumes every partition, in the same order: the group spreads them.
      await groupMember(c, queues, 'billing', (_p, key, seq) => seen.push([id, key, seq]));
      return c;
    };
    const keys = Array.from({ length: 24 }, (_, i) => `customer-${i}`);
    const next = new Map(keys.map((k) => [k, 0]));
    const publish = async (rounds: number) => {
      for (let r = 0; r < rounds; r++)
        for (const k of keys) {
          ch.publish('orders', k, Buffer.from(`${k}:${next.get(k)}`));
          next.set(k, next.get(k)! + 1);
        }
      await ch.waitForConfirms();
    };
    const a = await member('a');
    await publish(10);
    const bm = await member('b');
    const cm = await member('c');
    await publish(10);
    await until(() => seen.length >= keys.length * 20, 'the first 20 rounds');
    await a.close(); // a leaves: its partitions go to b and c
    await publish(10);
    const d = await member('d'); // and one joins
    await publish(10);
    const total = keys.length * 40;
    await until(() => new Set(seen.map(([, k, n]) => `${k}:${n}`)).size === total, 'every message');
    for (const k of keys) {
      // Per key, the first delivery of each message comes in publish order, none missing
      // (a hand-over may deliver a message again, never one ahead of an earlier one).
      const firsts: number[] = [];
      for (const [, key, n] of seen) if (key === k && !firsts.includes(n)) firsts.push(n);
      expect(firsts).toEqual(Array.from({ length: 40 }, (_, i) => i));
    }
    // One active member per partition: only hand-overs repeat a message (each at most the
    // prefetch of what the member leaving had in flight), where every member reading every
    // partition would deliver each message about three times.
    expect(seen.length).toBeLessThan(total * 1.5);
    // The work was spread: after a left, b, c and d each read some partitions.
    const late = seen.slice(seen.findIndex(([, , n]) => n >= 30));
    for (const id of ['b', 'c', 'd']) expect(late.some(([m]) => m === id)).toBe(true);
    for (const c of [bm, cm, d]) await c.close();
    await conn.close();
  });
});

/**
 * The memory store, but a stream's retention result reaches the stream only once `held` settles:
 * appends go on meanwhile (they are not behind retention), so the test decides which appends a
 * retention run saw.
 */
class HeldRetentionStore extends MemoryStore {
  held: Promise<void> = Promise.resolve();

  override async openStream(ref: QueueRef, settings: StreamSettings): Promise<StreamLog> {
    const log = await super.openStream(ref, settings);
    return {
      get firstOffset() {
        return log.firstOffset;
      },
      get nextOffset() {
        return log.nextOffset;
      },
      append: (entries, producer) => log.append(entries, producer),
      lastProducerSequence: (name) => log.lastProducerSequence(name),
      read: (from, max) => log.read(from, max),
      offsetForTimestamp: (ts) => log.offsetForTimestamp(ts),
      enforceRetention: async (now) => {
        const first = await log.enforceRetention(now);
        await this.held;
        return first;
      },
      updateSettings: (next) => log.updateSettings(next),
      storeConsumerOffset: (name, offset) => log.storeConsumerOffset(name, offset),
      consumerOffset: (name) => log.consumerOffset(name),
      stats: () => log.stats(),
      close: () => log.close(),
    };
  }
}

describe('retention asked for while it runs', () => {
  it('runs once more after, so the last appends are trimmed too', async () => {
    const storage = new HeldRetentionStore();
    const b = await startBroker({ ports: { amqp: 0 }, storage });
    try {
      const conn = await amqp.connect(b.amqpUrl!);
      const ch = await conn.createConfirmChannel();
      // Size only: no timer runs retention, only appends ask for it.
      await ch.assertQueue('trimmed', {
        durable: true,
        arguments: {
          'x-queue-type': 'stream',
          'x-stream-max-segment-size-bytes': 4096,
          'x-max-length-bytes': 8192,
        },
      });
      let release!: () => void;
      storage.held = new Promise((r) => (release = r));
      const body = Buffer.alloc(1000, 'x');
      // The first append starts a run that is held; the later ones ask while it runs.
      ch.sendToQueue('trimmed', body);
      await ch.waitForConfirms();
      for (let i = 0; i < 100; i++) ch.sendToQueue('trimmed', body);
      await ch.waitForConfirms();
      expect((await ch.checkQueue('trimmed')).messageCount).toBe(101);
      release();
      // 8192 bytes of closed segments plus the active one: under 20 of these messages.
      await until(
        async () => (await ch.checkQueue('trimmed')).messageCount < 20,
        'the last appends trimmed',
        3000,
      );
      await conn.close();
    } finally {
      await b.close();
    }
  });
});

describe.each(stores.slice(0, 2))('a policy on the %s store', (_name, makeStore) => {
  it('changes a stream retention at once (set and cleared through the management API)', async () => {
    const storage = await makeStore();
    const b = await startBroker({
      ports: { amqp: 0, http: 0 },
      ...(storage === 'memory' ? {} : { storage }),
    });
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    /** Sets (or, without a definition, clears) the policy of one stream, named as the stream. */
    const policy = async (queue: string, definition?: Record<string, unknown>): Promise<void> => {
      const res = await fetch(`${b.httpUrl}/api/policies/%2F/${queue}`, {
        method: definition ? 'PUT' : 'DELETE',
        headers: { ...auth, 'content-type': 'application/json' },
        ...(definition && {
          body: JSON.stringify({ pattern: `^${queue}$`, 'apply-to': 'queues', definition }),
        }),
      });
      expect(res.status, await res.text()).toBeLessThan(300);
    };
    try {
      const conn = await amqp.connect(b.amqpUrl!);
      const ch = await conn.createConfirmChannel();
      const count = async (q: string): Promise<number> => (await ch.checkQueue(q)).messageCount;
      const publish = async (q: string, n: number): Promise<void> => {
        for (let i = 0; i < n; i++) ch.sendToQueue(q, Buffer.alloc(200, 'x'));
        await ch.waitForConfirms();
      };
      const segment = { 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': 4096 };
      await ch.assertQueue('policed-size', { durable: true, arguments: segment });
      await ch.assertQueue('policed-age', { durable: true, arguments: segment });
      // Default segment size (500 MB): its one segment is never closed, so nothing can go.
      await ch.assertQueue('policed-segment', {
        durable: true,
        arguments: { 'x-queue-type': 'stream', 'x-max-length-bytes': 8192 },
      });
      for (const q of ['policed-size', 'policed-age', 'policed-segment']) await publish(q, 200);

      // max-length-bytes: applied when set, without another append.
      await policy('policed-size', { 'max-length-bytes': 8192 });
      await until(async () => (await count('policed-size')) < 60, 'max-length-bytes from the policy');
      // Cleared: the stream keeps what comes next.
      await policy('policed-size');
      await publish('policed-size', 200);
      expect(await count('policed-size')).toBeGreaterThan(200);

      // max-age: the policy starts the retention timer of a stream that had no age limit.
      await policy('policed-age', { 'max-age': '1s' });
      await until(async () => (await count('policed-age')) < 60, 'max-age from the policy', 10_000);
      await policy('policed-age');

      // stream-max-segment-size-bytes: appends roll at the new size, so the big segment closes and goes.
      await policy('policed-segment', { 'stream-max-segment-size-bytes': 4096 });
      await publish('policed-segment', 100);
      await until(async () => (await count('policed-segment')) < 60, 'segment size from the policy');
      await conn.close();
    } finally {
      await b.close();
    }
  });
});

describe('a restart on the embedded store', () => {
  it('keeps the stream, a named consumer offset and the retention', async () => {
    const dir = dirs.make('junction-stream-restart-');
    const open = () => startBroker({ ports: { amqp: 0 }, storage: new LmdbStore({ dir }) });
    const args = { 'x-queue-type': 'stream', 'x-max-age': '7D', 'x-stream-max-segment-size-bytes': 4096 };
    let b = await open();
    let conn = await amqp.connect(b.amqpUrl!);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('kept', { durable: true, arguments: args });
    for (let i = 0; i < 300; i++) ch.sendToQueue('kept', Buffer.from(`k${i}`));
    await ch.waitForConfirms();
    const reader = await conn.createChannel();
    await reader.prefetch(10);
    let acked = 0;
    await reader.consume(
      'kept',
      (m) => {
        if (!m || acked >= 120) return;
        acked++;
        reader.ack(m);
      },
      { arguments: { 'x-stream-offset': 'first', 'x-stream-consumer-name': 'auditor' } },
    );
    await until(() => acked === 120, '120 acked');
    // The acks are in (a round trip on the same channel), and the broker stops with the
    // consumer still attached: its offset is stored on the way down.
    await reader.checkQueue('kept');
    const closedByBroker = new Promise<unknown>((resolve) => conn.once('close', resolve));
    await b.close();
    expect(String(await closedByBroker)).toMatch(/320 \(CONNECTION-FORCED\).*broker shutdown/);

    b = await open();
    try {
      conn = await amqp.connect(b.amqpUrl!);
      const again = await conn.createChannel();
      again.on('error', () => {});
      expect((await again.checkQueue('kept')).messageCount).toBe(300);
      // The retention came back with it: the same arguments match, others are inequivalent.
      await again.assertQueue('kept', { durable: true, arguments: args });
      const resumed = await readStream(again, 'kept', 'first', 180, 10, {
        'x-stream-consumer-name': 'auditor',
      });
      expect(resumed[0]!.content.toString()).toBe('k120');
      const moved = await conn.createChannel();
      const err = closed(moved);
      await expect(
        moved.assertQueue('kept', { durable: true, arguments: { ...args, 'x-max-age': '1D' } }),
      ).rejects.toThrow(/406/);
      expect(await err).toContain("inequivalent arg 'x-max-age'");
      await conn.close();
    } finally {
      await b.close();
    }
  });

  it('keeps a partitioned stream: its bindings to the partitions and its consumer group position', async () => {
    const dir = dirs.make('junction-super-stream-restart-');
    const open = () => startBroker({ ports: { amqp: 0 }, storage: new LmdbStore({ dir }) });
    const keys = Array.from({ length: 12 }, (_, i) => `acct-${i}`);
    const publish = async (ch: ConfirmChannel, from: number, rounds: number): Promise<void> => {
      for (let r = from; r < from + rounds; r++)
        for (const k of keys) ch.publish('ledger', k, Buffer.from(`${k}:${r}`));
      await ch.waitForConfirms();
    };
    const ledger = ['ledger-0', 'ledger-1', 'ledger-2'];
    const member = (conn: ChannelModel, seen: [number, string, number][]): Promise<void> =>
      groupMember(conn, ledger, 'audit', (p, key, round) => seen.push([p, key, round]));
    let b = await open();
    let conn = await amqp.connect(b.amqpUrl!);
    let ch = await conn.createConfirmChannel();
    await ch.assertExchange('ledger', 'x-super-stream', { durable: true });
    for (let p = 0; p < 3; p++) {
      await ch.assertQueue(`ledger-${p}`, { durable: true, arguments: { 'x-queue-type': 'stream' } });
      await ch.bindQueue(`ledger-${p}`, 'ledger', String(p), { 'x-stream-partition-order': p });
    }
    await publish(ch, 0, 10);
    const before: [number, string, number][] = [];
    await member(conn, before);
    await until(() => before.length === 120, 'the group read the 120 messages');
    const partitionOf = new Map(before.map(([p, k]) => [k, p]));
    // Each key in one partition, and the keys spread over more than one.
    expect(before.every(([p, k]) => partitionOf.get(k) === p)).toBe(true);
    expect(new Set(partitionOf.values()).size).toBeGreaterThan(1);
    await conn.close();
    await b.close();

    b = await open();
    try {
      conn = await amqp.connect(b.amqpUrl!);
      ch = await conn.createConfirmChannel();
      // Nothing declared or bound again: the exchange routes to the partitions it had.
      await publish(ch, 10, 5);
      const counts = await Promise.all(
        [0, 1, 2].map(async (p) => (await ch.checkQueue(`ledger-${p}`)).messageCount),
      );
      expect(counts.reduce((a, n) => a + n, 0)).toBe(180);
      const after: [number, string, number][] = [];
      await member(conn, after);
      await until(() => after.length >= 60, 'the group read what came after the restart');
      // The group resumed where it stopped: only the 60 new ones, each key in its old partition, in order.
      await new Promise((r) => setTimeout(r, 200));
      expect(after.length).toBe(60);
      expect(after.every(([p, k, round]) => partitionOf.get(k) === p && round >= 10)).toBe(true);
      for (const k of keys)
        expect(after.filter(([, key]) => key === k).map(([, , round]) => round)).toEqual([
          10, 11, 12, 13, 14,
        ]);
      await conn.close();
    } finally {
      await b.close();
    }
  });
});
