/**
 * The memory alarm blocks STOMP publishers only, as RabbitMQ does: a subscriber keeps
 * receiving and ACKing (and so relieving the memory) while a publisher's SEND waits unread;
 * management shows the publisher as blocked, the subscriber as running.
 */
import { afterEach, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { rawConnected, stompSuite } from './helpers.js';

const suite = stompSuite();
afterEach(() => suite.server.broker.setAlarm('memory', null));

const stateOf = (localPort: number | undefined): string | undefined =>
  [...suite.server.adapter.connections()].find((s) => s.remotePort === localPort)?.state;

it('holds a publisher while a subscriber keeps receiving and ACKing, then lets the publisher go', async () => {
  const q = '/queue/alarm-drain';
  const backlog = 200;
  const setup = await rawConnected(suite.server.port);
  for (let i = 0; i < backlog; i++) setup.write(`SEND\ndestination:${q}\n\nm${i}\0`);
  setup.write('DISCONNECT\nreceipt:filled\n\n\0');
  await setup.next('RECEIPT');
  expect(suite.server.broker.vhosts.get('/')!.queues.get('alarm-drain')!.messageCount).toBe(backlog);

  const publisher = await rawConnected(suite.server.port);
  const subscriber = await rawConnected(suite.server.port);
  suite.server.broker.setAlarm('memory', 'low on memory');

  // The SEND that finds the alarm set blocks its connection; what follows waits unread.
  publisher.write(`SEND\ndestination:${q}\nreceipt:p1\n\nduring-alarm\0`);
  await until(() => stateOf(publisher.socket.localPort) === 'blocked', 'the publisher blocked');

  // prefetch 10: draining 200 needs 190 ACKs read during the alarm.
  subscriber.write(`SUBSCRIBE\nid:1\ndestination:${q}\nack:client-individual\nprefetch-count:10\n\n\0`);
  const got: string[] = [];
  while (got.length < backlog) {
    const m = await subscriber.next('MESSAGE', 10_000);
    got.push(m.body.toString());
    subscriber.write(`ACK\nid:${m.headers['ack']}\n\n\0`);
  }
  expect(got[backlog - 1]).toBe(`m${backlog - 1}`);
  expect(stateOf(subscriber.socket.localPort)).toBe('running');
  expect(stateOf(publisher.socket.localPort)).toBe('blocked');
  expect(publisher.frames.filter((f) => f.command === 'RECEIPT')).toEqual([]);

  suite.server.broker.setAlarm('memory', null);
  const r = await publisher.next('RECEIPT');
  expect(r.headers['receipt-id']).toBe('p1');
  const last = await subscriber.next('MESSAGE');
  expect(last.body.toString()).toBe('during-alarm');
  expect(stateOf(publisher.socket.localPort)).toBe('running');
  publisher.socket.destroy();
  subscriber.socket.destroy();
});

it('a connection opened during the alarm completes CONNECT and SUBSCRIBE', async () => {
  suite.server.broker.setAlarm('memory', 'low on memory');
  const late = await rawConnected(suite.server.port);
  late.write('SUBSCRIBE\nid:1\ndestination:/queue/alarm-late\nreceipt:s\n\n\0');
  await late.next('RECEIPT');
  suite.server.broker.setAlarm('memory', null);
  late.socket.destroy();
});
