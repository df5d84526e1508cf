/**
 * Nesting depth of field tables (issue 14): a publisher whose header table nests 10,000 deep
 * gets its connection closed with a syntax error at the edge; the message never reaches the
 * queue, and a consumer of that queue on another connection keeps working.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, startAmqpServer, until, type TestServer } from '@junction/testkit';
import { PROTOCOL_HEADER, frame, method, open, tuneOk, RawHandshake } from './wire.js';
import { MAX_TABLE_DEPTH } from '../src/wire/index.js';

let server: TestServer;
beforeAll(async () => {
  server = await startAmqpServer();
});
afterAll(async () => server.close());

/** A content-header payload whose `headers` table nests `depth` tables deep, built without recursion. */
function deepHeaderPayload(depth: number, bodySize: number): Buffer {
  // Each level is long(size) 'a'-key 'F' and the next table; the innermost is an empty table.
  const tableBytes = 4 + 7 * depth;
  const p = Buffer.alloc(14 + tableBytes);
  p.writeUInt16BE(60, 0);
  p.writeUInt16BE(0, 2);
  p.writeUInt32BE(0, 4);
  p.writeUInt32BE(bodySize, 8);
  p.writeUInt16BE(0x2000, 12); // headers only
  let o = 14;
  for (let level = depth; level > 0; level--) {
    p.writeUInt32BE(7 * level, o);
    p[o + 4] = 1;
    p[o + 5] = 0x61; // 'a'
    p[o + 6] = 0x46; // 'F'
    o += 7;
  }
  p.writeUInt32BE(0, o);
  return p;
}

/** Connects raw, publishes one message with a `depth`-deep header table, resolves with the close code. */
async function publishDeep(queue: string, depth: number, expectClose = true): Promise<number | null> {
  const body = Buffer.from('deep');
  const hs = new RawHandshake(
    (b) => c.write(b),
    Buffer.concat([tuneOk(), open()]),
    Buffer.concat([
      method('ChannelOpen', 1, { outOfBand: '' }),
      method('BasicPublish', 1, { exchange: '', routingKey: queue, mandatory: false, immediate: false }),
      frame(2, 1, deepHeaderPayload(depth, body.length)),
      frame(3, 1, body),
    ]),
  );
  const c = await rawClient(server.port, () => hs.advance(c.received()));
  c.write(PROTOCOL_HEADER);
  await until(() => hs.stage === 'sent', 'the handshake', 10_000);
  if (expectClose) await until(() => hs.code !== null || c.isClosed(), 'the publisher to be closed', 10_000);
  c.socket.destroy();
  return hs.code;
}

describe('AMQP field-table nesting', () => {
  it('closes a publisher of a 10,000-deep header table with 502, and the queue and its consumer stay intact', async () => {
    const consumerConn = await amqp.connect(server.url);
    let consumerError: unknown;
    consumerConn.on('error', (e: unknown) => (consumerError = e));
    const consumerClosed = { closed: false };
    consumerConn.on('close', () => (consumerClosed.closed = true));
    const ch = await consumerConn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const got: string[] = [];
    await ch.consume(queue, (m) => m && got.push(m.content.toString()), { noAck: true });

    expect(await publishDeep(queue, 10_000)).toBe(502);

    // Another connection's round trip is served promptly.
    const other = await amqp.connect(server.url);
    const och = await other.createConfirmChannel();
    const { queue: oq } = await och.assertQueue('', { exclusive: true });
    const started = performance.now();
    await new Promise<void>((res, rej) =>
      och.sendToQueue(oq, Buffer.from('x'), {}, (e) => (e ? rej(e) : res())),
    );
    expect(await och.get(oq, { noAck: true })).toBeTruthy();
    expect(performance.now() - started).toBeLessThan(1000);

    // The consumer is still served, and the deep message never reached its queue.
    const pub = await other.createConfirmChannel();
    await new Promise<void>((res, rej) =>
      pub.sendToQueue(queue, Buffer.from('after'), {}, (e) => (e ? rej(e) : res())),
    );
    await until(() => got.length > 0, 'the delivery after the attack');
    expect(got).toEqual(['after']);
    expect(consumerError).toBeUndefined();
    expect(consumerClosed.closed).toBe(false);
    await other.close();
    await consumerConn.close();
  }, 30_000);

  it('closes a publisher of a header table one level over the limit with 502', async () => {
    const conn = await amqp.connect(server.url);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(await publishDeep(queue, MAX_TABLE_DEPTH + 1)).toBe(502);
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);
    await conn.close();
  });

  it('delivers a header table nested up to the limit to the consumer', async () => {
    const conn = await amqp.connect(server.url);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(await publishDeep(queue, MAX_TABLE_DEPTH, false)).toBeNull();
    const m = await until(
      async () => await ch.get(queue, { noAck: true }),
      'the message nested to the limit',
    );
    let t = m.properties.headers as Record<string, unknown>;
    let depth = 0;
    while (t && 'a' in t) {
      t = t.a as Record<string, unknown>;
      depth++;
    }
    expect(depth).toBe(MAX_TABLE_DEPTH);
    await conn.close();
  }, 30_000);
});
