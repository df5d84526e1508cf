/**
 * Ack modes, prefetch, NACK and transactions, driven by stompit, with the queue state
 * checked over AMQP (amqplib) against the same broker.
 */
import type { Channel } from 'amqplib';
import type Client from 'stompit/lib/Client.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { until, type WsTestServer } from '@junction/testkit';
import { collect, destroyClient, rawConnected, sendWithReceipt, stompSuite, txId } from './helpers.js';

const suite = stompSuite();
const { connect, unique } = suite;
let server: WsTestServer;
let ch: Channel;
beforeAll(() => void ({ server, ch } = suite));

async function fill(c: Client, q: string, bodies: string[]): Promise<void> {
  for (const b of bodies) await sendWithReceipt(c, { destination: `/queue/${q}` }, b);
}

/** Messages ready in a queue, from AMQP's point of view. */
async function ready(q: string): Promise<number> {
  return (await ch.checkQueue(q)).messageCount;
}

function ack(c: Client, m: Client.Message, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) =>
    c.ack(m, headers, { onReceipt: () => resolve(), onError: reject } as Client.SendOptions),
  );
}
function nack(c: Client, m: Client.Message, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) =>
    c.nack(m, headers, { onReceipt: () => resolve(), onError: reject } as Client.SendOptions),
  );
}

/** Closes a client abruptly and waits for the server to release its connection. */
async function drop(c: Client): Promise<void> {
  const before = [...server.adapter.connections()].length;
  destroyClient(c);
  await until(() => [...server.adapter.connections()].length < before, 'connection released');
}

describe('ack modes', () => {
  it('auto: messages are gone once delivered', async () => {
    const q = unique('auto');
    const c = await connect();
    await fill(c, q, ['a', 'b']);
    const s = collect(c, { destination: `/queue/${q}`, ack: 'auto' });
    await until(() => s.messages.length === 2, 'deliveries');
    expect(s.messages[0]!.headers['ack']).toBeUndefined();
    await drop(c);
    expect(await ready(q)).toBe(0);
  });

  it('client-individual: only the acked message is settled', async () => {
    const q = unique('ci');
    const c = await connect();
    await fill(c, q, ['1', '2', '3']);
    const s = collect(c, { destination: `/queue/${q}`, ack: 'client-individual' });
    await until(() => s.messages.length === 3, 'deliveries');
    expect(s.messages[1]!.headers['ack']).toBeTruthy();
    await ack(c, s.messages[1]!.msg);
    await drop(c);
    const c2 = await connect();
    const s2 = collect(c2, { destination: `/queue/${q}`, ack: 'auto' });
    await until(() => s2.messages.length === 2, 'redeliveries');
    expect(s2.messages.map((m) => m.body.toString()).sort()).toEqual(['1', '3']);
    expect(s2.messages.every((m) => m.headers['redelivered'] === 'true')).toBe(true);
  });

  it('client: an ACK is cumulative within its subscription only', async () => {
    const qa = unique('cum-a');
    const qb = unique('cum-b');
    const c = await connect();
    await fill(c, qb, ['b1']);
    const sb = collect(c, { destination: `/queue/${qb}`, ack: 'client-individual', id: 'b' });
    await until(() => sb.messages.length === 1, 'b1');
    await fill(c, qa, ['a1', 'a2', 'a3']);
    const sa = collect(c, { destination: `/queue/${qa}`, ack: 'client', id: 'a' });
    await until(() => sa.messages.length === 3, 'a*');
    await ack(c, sa.messages[1]!.msg); // acks a1 and a2, not b1 (delivered earlier) nor a3
    await drop(c);
    expect(await ready(qa)).toBe(1);
    expect(await ready(qb)).toBe(1);
  });

  it('client: with a single subscription a cumulative ACK settles everything before it', async () => {
    const q = unique('cum');
    const c = await connect();
    await fill(c, q, ['1', '2', '3', '4']);
    const s = collect(c, { destination: `/queue/${q}`, ack: 'client' });
    await until(() => s.messages.length === 4, 'deliveries');
    await ack(c, s.messages[2]!.msg);
    await drop(c);
    expect(await ready(q)).toBe(1);
  });

  it('ACK of an unknown message id is an ERROR', async () => {
    const r = await rawConnected(server.port);
    r.write('ACK\nid:12345\nreceipt:7\n\n\0');
    const f = await r.next('ERROR');
    expect(f.headers['receipt-id']).toBe('7');
    await r.closed;
  });
});

describe('prefetch and NACK', () => {
  it('prefetch-count limits unacked deliveries', async () => {
    const q = unique('pf');
    const c = await connect();
    await fill(c, q, ['1', '2', '3', '4', '5']);
    const s = collect(c, { destination: `/queue/${q}`, ack: 'client-individual', 'prefetch-count': '2' });
    await until(() => s.messages.length === 2, 'two deliveries');
    // A round trip through the connection: had more been sent, it would be here by now.
    await sendWithReceipt(c, { destination: `/queue/${unique('sync')}` }, '');
    expect(s.messages.length).toBe(2);
    await ack(c, s.messages[0]!.msg);
    await until(() => s.messages.length === 3, 'third after ack');
  });

  it('NACK requeues the message, redelivered', async () => {
    const q = unique('nack');
    const c = await connect();
    await fill(c, q, ['x']);
    const s = collect(c, { destination: `/queue/${q}`, ack: 'client-individual' });
    await until(() => s.messages.length === 1, 'delivery');
    expect(s.messages[0]!.headers['redelivered']).toBe('false');
    await nack(c, s.messages[0]!.msg);
    await until(() => s.messages.length === 2, 'redelivery');
    expect(s.messages[1]!.headers['redelivered']).toBe('true');
    expect(s.messages[1]!.body.toString()).toBe('x');
  });

  it('NACK with requeue:false dead-letters', async () => {
    const q = unique('nack-dl');
    const dlq = unique('dlq');
    await ch.assertQueue(dlq, { durable: false });
    await ch.assertQueue(q, {
      durable: false,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq },
    });
    ch.sendToQueue(q, Buffer.from('doomed'));
    const c = await connect();
    const s = collect(c, { destination: `/amq/queue/${q}`, ack: 'client-individual' });
    await until(() => s.messages.length === 1, 'delivery');
    await nack(c, s.messages[0]!.msg, { requeue: 'false' });
    const got = await until(() => ch.get(dlq, { noAck: true }), 'dead-lettered');
    expect(got.content.toString()).toBe('doomed');
    expect(await ready(q)).toBe(0);
  });
});

describe('queue arguments', () => {
  it('x-* queue arguments on SUBSCRIBE declare the queue with them; a mismatch is an ERROR', async () => {
    const q = unique('args');
    const c = await connect();
    const s = collect(c, {
      destination: `/queue/${q}`,
      ack: 'client-individual',
      'prefetch-count': '1',
      'x-max-length': '2',
      'x-message-ttl': '60000',
    });
    await sendWithReceipt(c, { destination: `/queue/${unique('sync')}` }, '');
    await fill(c, q, ['1', '2', '3', '4', '5']);
    // One delivered (unacked, prefetch 1) and at most 2 ready: the oldest were dropped.
    await until(() => s.messages.length === 1, 'first delivery');
    expect(await ready(q)).toBe(2);

    const r = await rawConnected(server.port);
    r.write(`SUBSCRIBE\nid:1\ndestination:/queue/${q}\nx-max-length:3\n\n\0`);
    const e = await r.next('ERROR');
    expect(e.headers['message']).toMatch(/PRECONDITION_FAILED/);
    await r.closed;
  });
});

describe('transactions', () => {
  it('SENDs in a transaction are invisible until COMMIT', async () => {
    const q = unique('tx');
    const c = await connect();
    await sendWithReceipt(c, { destination: `/queue/${q}` }, 'outside');
    const tx = c.begin();
    tx.send({ destination: `/queue/${q}` }).end('inside-1');
    tx.send({ destination: `/queue/${q}` }).end('inside-2');
    await sendWithReceipt(c, { destination: `/queue/${unique('sync')}` }, '');
    expect(await ready(q)).toBe(1);
    await new Promise<void>((resolve, reject) =>
      tx.commit({ onReceipt: () => resolve(), onError: reject } as never),
    );
    expect(await ready(q)).toBe(3);
  });

  it('ABORT discards the transaction SENDs', async () => {
    const q = unique('txa');
    const c = await connect();
    await sendWithReceipt(c, { destination: `/queue/${q}` }, 'declare');
    const tx = c.begin();
    tx.send({ destination: `/queue/${q}` }).end('never');
    await new Promise<void>((resolve, reject) =>
      tx.abort({ onReceipt: () => resolve(), onError: reject } as never),
    );
    expect(await ready(q)).toBe(1);
  });

  it('an ACK in an aborted transaction is not applied; in a committed one it is', async () => {
    const q = unique('txack');
    const c = await connect();
    await fill(c, q, ['1', '2']);
    const s = collect(c, { destination: `/queue/${q}`, ack: 'client-individual' });
    await until(() => s.messages.length === 2, 'deliveries');
    const t1 = c.begin();
    await ack(c, s.messages[0]!.msg, { transaction: txId(t1) });
    await new Promise<void>((resolve, reject) =>
      t1.abort({ onReceipt: () => resolve(), onError: reject } as never),
    );
    const t2 = c.begin();
    await ack(c, s.messages[1]!.msg, { transaction: txId(t2) });
    await new Promise<void>((resolve, reject) =>
      t2.commit({ onReceipt: () => resolve(), onError: reject } as never),
    );
    await drop(c);
    const c2 = await connect();
    const s2 = collect(c2, { destination: `/queue/${q}` });
    await until(() => s2.messages.length === 1, 'redelivery of the aborted ack');
    expect(s2.messages[0]!.body.toString()).toBe('1');
  });

  it('a message acked in an aborted transaction can be acked again', async () => {
    const q = unique('txre');
    const c = await connect();
    await fill(c, q, ['1']);
    const s = collect(c, { destination: `/queue/${q}`, ack: 'client-individual' });
    await until(() => s.messages.length === 1, 'delivery');
    const t = c.begin();
    await ack(c, s.messages[0]!.msg, { transaction: txId(t) });
    await new Promise<void>((resolve, reject) =>
      t.abort({ onReceipt: () => resolve(), onError: reject } as never),
    );
    await ack(c, s.messages[0]!.msg);
    await drop(c);
    expect(await ready(q)).toBe(0);
  });

  it('COMMIT of an unknown transaction is an ERROR', async () => {
    const r = await rawConnected(server.port);
    r.write('COMMIT\ntransaction:nope\n\n\0');
    const f = await r.next('ERROR');
    expect(f.headers['message']).toBe('Invalid transaction');
    await r.closed;
  });
});
