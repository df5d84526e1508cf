/**
 * Issue 14: header and argument names an AMQP client chooses are data, never a plain
 * object's inherited member. With amqplib over a real socket: a header named `__proto__`
 * stays a header (decoded, it used to become the table's prototype: the header was lost and
 * its entries read as headers), and a headers-exchange binding on `toString`, `constructor`
 * or `hasOwnProperty` does not find Object.prototype's members in every message.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmqpServer, until, withOwnKey as own, type TestServer } from '@junction/testkit';

let server: TestServer;
let conn: amqp.ChannelModel;
beforeAll(async () => {
  server = await startAmqpServer();
  conn = await amqp.connect(server.url);
});
afterAll(async () => {
  await conn.close();
  await server.close();
});

describe('dangerous header names over AMQP', () => {
  it('route on own headers only, through a headers exchange', async () => {
    const ch = await conn.createChannel();
    await ch.assertExchange('hx', 'headers', { durable: false });
    const bind = async (name: string, args: Record<string, unknown>): Promise<void> => {
      await ch.assertQueue(name, { exclusive: true });
      await ch.bindQueue(name, 'hx', '', args);
    };
    // Inherited members are not headers.
    for (const n of ['toString', 'constructor', 'hasOwnProperty'])
      await bind(`any-${n}`, own(n, null, { 'x-match': 'any' }));
    await bind('all-polluted', { 'x-match': 'all', polluted: 'yes' });
    // A header named __proto__ is a header.
    await bind('all-proto', own('__proto__', 'p', { 'x-match': 'all' }));

    ch.publish('hx', '', Buffer.from('plain'), { headers: { a: 1 } });
    ch.publish('hx', '', Buffer.from('proto-object'), { headers: own('__proto__', { polluted: 'yes' }) });
    ch.publish('hx', '', Buffer.from('proto-string'), { headers: own('__proto__', 'p') });
    const marker = await ch.assertQueue('marker', { exclusive: true });
    await ch.bindQueue(marker.queue, 'hx', '', { 'x-match': 'any', end: 1 });
    ch.publish('hx', '', Buffer.from('end'), { headers: { end: 1 } });
    await until(async () => (await ch.checkQueue('marker')).messageCount === 1, 'the marker message');

    const bodies = async (q: string): Promise<string[]> => {
      const out: string[] = [];
      for (let m = await ch.get(q, { noAck: true }); m; m = await ch.get(q, { noAck: true }))
        out.push(m.content.toString());
      return out;
    };
    for (const n of ['toString', 'constructor', 'hasOwnProperty'])
      expect(await bodies(`any-${n}`), n).toEqual([]);
    expect(await bodies('all-polluted')).toEqual([]);
    expect(await bodies('all-proto')).toEqual(['proto-string']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    await ch.close();
  });
});
