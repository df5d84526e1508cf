/**
 * STOMP and streams: SUBSCRIBE's `x-stream-offset` in RabbitMQ's STOMP forms (`first`, `last`,
 * `next`, `offset=<n>`, `timestamp=<unix seconds>`, an interval), the offset of each MESSAGE,
 * a stream declared by a SUBSCRIBE's headers, and the refusals as ERROR frames (the connection
 * closes; the broker and the stream are untouched).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { until, type WsTestServer } from '@junction/testkit';
import { rawConnected, stompSuite } from './helpers.js';

const suite = stompSuite();
let server: WsTestServer;
beforeAll(async () => {
  server = suite.server;
  await suite.ch.assertQueue('ticks', { durable: true, arguments: { 'x-queue-type': 'stream' } });
  for (let i = 0; i < 20; i++) suite.ch.sendToQueue('ticks', Buffer.from(`t${i}`));
  await until(async () => (await suite.ch.checkQueue('ticks')).messageCount === 20, 'the 20 ticks');
});

async function firstMessage(headers: string): Promise<{ offset: string | undefined; body: string }> {
  const c = await rawConnected(server.port);
  c.write(`SUBSCRIBE\nid:s\ndestination:/amq/queue/ticks\nack:client\nprefetch-count:5\n${headers}\n\0`);
  const m = await c.next('MESSAGE');
  c.socket.destroy();
  return { offset: m.headers['x-stream-offset'], body: m.body.toString() };
}

describe('STOMP x-stream-offset', () => {
  it('attaches at first, last, offset=<n>, timestamp=<seconds> and an interval', async () => {
    expect(await firstMessage('x-stream-offset:first\n')).toEqual({ offset: '0', body: 't0' });
    expect(await firstMessage('x-stream-offset:last\n')).toEqual({ offset: '19', body: 't19' });
    expect(await firstMessage('x-stream-offset:offset=7\n')).toEqual({ offset: '7', body: 't7' });
    expect(await firstMessage('x-stream-offset:timestamp=0\n')).toEqual({ offset: '0', body: 't0' });
    expect(await firstMessage('x-stream-offset:1h\n')).toEqual({ offset: '0', body: 't0' });
  });

  it('declares a stream from SUBSCRIBE headers, as RabbitMQ does', async () => {
    const c = await rawConnected(server.port);
    c.write(
      'SUBSCRIBE\nid:s\ndestination:/queue/stomp-made\nx-queue-type:stream\nx-max-age:7D\n' +
        'x-stream-max-segment-size-bytes:100000\nack:client\nprefetch-count:5\nreceipt:r\n\n\0',
    );
    await c.next('RECEIPT');
    const q = await suite.ch.checkQueue('stomp-made');
    expect(q.messageCount).toBe(0);
    c.socket.destroy();
  });

  it('refuses bad offsets, auto ack and a missing prefetch with an ERROR', async () => {
    for (const [headers, why] of [
      ['x-stream-offset:offset=-1\nack:client\nprefetch-count:5\n', "header 'x-stream-offset'"],
      ['x-stream-offset:yesterday\nack:client\nprefetch-count:5\n', "invalid arg 'x-stream-offset'"],
      ['ack:client\n', 'consumer prefetch count is not set for stream'],
      ['prefetch-count:5\n', 'automatic acknowledgement not supported by stream'],
      ['x-stream-consumer-name:\nack:client\nprefetch-count:5\n', "invalid arg 'x-stream-consumer-name'"],
    ]) {
      const c = await rawConnected(server.port);
      c.write(`SUBSCRIBE\nid:s\ndestination:/amq/queue/ticks\n${headers}\n\0`);
      const e = await c.next('ERROR');
      expect(`${e.headers['message']} ${e.body.toString()}`).toContain(why);
    }
    expect((await suite.ch.checkQueue('ticks')).messageCount).toBe(20);
  });
});
