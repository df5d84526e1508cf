/**
 * Wire-level protocol behaviour with a raw socket: limits, heart-beats, errors,
 * receipts, and the ProtocolAdapter contract (snapshots, closeConnection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStompServer, until, type WsTestServer } from '@junction/testkit';
import { rawStompClient, rawConnected } from './helpers.js';

let server: WsTestServer;

beforeAll(async () => {
  server = await startStompServer({
    maxFrameSize: 64 * 1024,
    maxHeaders: 20,
    maxHeaderLength: 256,
    maxSubscriptions: 3,
    // Sends every 50 ms; expects the client every 300 ms (dropped after 600 ms of silence:
    // wide enough that an event-loop stall in this shared test process is no false alarm).
    heartbeat: [50, 300],
  });
});
afterAll(async () => {
  await server.close();
});

async function expectErrorAndClose(frames: string | Buffer, connect = true): Promise<Record<string, string>> {
  const c = connect ? await rawConnected(server.port) : await rawStompClient(server.port);
  c.write(frames);
  const f = await c.next('ERROR');
  await c.closed;
  return { ...f.headers, body: f.body.toString() };
}

describe('errors close the connection', () => {
  it('a frame before CONNECT', async () => {
    const e = await expectErrorAndClose('SEND\ndestination:/queue/a\n\nx\0', false);
    expect(e['message']).toBe('Not connected');
  });

  it('an unknown command', async () => {
    const e = await expectErrorAndClose('FROB\n\n\0');
    expect(e['message']).toBe('Unknown command');
  });

  it('a second CONNECT', async () => {
    const e = await expectErrorAndClose('CONNECT\naccept-version:1.2\n\n\0');
    expect(e['message']).toBe('Already connected');
  });

  it('a frame larger than maxFrameSize (no content-length)', async () => {
    const e = await expectErrorAndClose(`SEND\ndestination:/queue/big\n\n${'x'.repeat(70 * 1024)}\0`);
    expect(e['body']).toMatch(/larger than/);
  });

  it('a content-length above maxFrameSize is refused before the body arrives', async () => {
    const e = await expectErrorAndClose(`SEND\ndestination:/queue/big\ncontent-length:100000000\n\n`);
    expect(e['body']).toMatch(/larger than/);
  });

  it('too many headers', async () => {
    let h = '';
    for (let i = 0; i < 25; i++) h += `h${i}:v\n`;
    const e = await expectErrorAndClose(`SEND\ndestination:/queue/a\n${h}\n\0`);
    expect(e['body']).toMatch(/more than 20 headers/);
  });

  it('a header longer than maxHeaderLength, even without its line end', async () => {
    const e = await expectErrorAndClose(`SEND\ndestination:/queue/a\nlong:${'y'.repeat(300)}`);
    expect(e['body']).toMatch(/header longer than 256/);
  });

  it('too many subscriptions', async () => {
    let s = '';
    for (let i = 0; i < 4; i++) s += `SUBSCRIBE\nid:${i}\ndestination:/queue/many-${i}\n\n\0`;
    const e = await expectErrorAndClose(s);
    expect(e['message']).toBe('Too many subscriptions');
  });

  it('too many temp queues via reply-to', async () => {
    let s = '';
    for (let i = 0; i < 4; i++) s += `SEND\ndestination:/queue/tq\nreply-to:/temp-queue/r${i}\n\n\0`;
    const e = await expectErrorAndClose(s);
    expect(e['message']).toMatch(/^Too many/);
  });

  it('a duplicate subscription id', async () => {
    const e = await expectErrorAndClose(
      'SUBSCRIBE\nid:1\ndestination:/queue/d\n\n\0SUBSCRIBE\nid:1\ndestination:/queue/d\n\n\0',
    );
    expect(e['message']).toBe('Duplicate subscription');
  });

  it('a SUBSCRIBE without id in 1.2', async () => {
    const e = await expectErrorAndClose('SUBSCRIBE\ndestination:/queue/d\n\n\0');
    expect(e['message']).toBe('Missing header');
  });

  it('an access-refused core error (403)', async () => {
    await server.broker.putUser('limited', { password: 'pw' });
    await server.broker.setPermission('/', 'limited', { configure: '^$', write: '^$', read: '^$' });
    const c = await rawStompClient(server.port);
    c.write('CONNECT\naccept-version:1.2\nlogin:limited\npasscode:pw\n\n\0');
    await c.next('CONNECTED');
    c.write('SEND\ndestination:/queue/forbidden\n\nx\0');
    const e = await c.next('ERROR');
    expect(e.headers['message']).toMatch(/ACCESS_REFUSED/);
    await c.closed;
  });

  it('a core NOT_FOUND error, leaving other connections alone', async () => {
    const other = await rawConnected(server.port);
    other.write('SUBSCRIBE\nid:1\ndestination:/queue/survivor\nreceipt:a\n\n\0');
    await other.next('RECEIPT');
    const e = await expectErrorAndClose('SUBSCRIBE\nid:1\ndestination:/amq/queue/no-such-queue\n\n\0');
    expect(e['message']).toMatch(/NOT_FOUND/);
    other.write('SEND\ndestination:/queue/survivor\n\nstill here\0');
    const m = await other.next('MESSAGE');
    expect(m.body.toString()).toBe('still here');
    other.socket.destroy();
  });
});

describe('receipts and DISCONNECT', () => {
  it('RECEIPT for SUBSCRIBE, UNSUBSCRIBE, BEGIN, ABORT and DISCONNECT, then close', async () => {
    const c = await rawConnected(server.port);
    c.write('SUBSCRIBE\nid:1\ndestination:/queue/rcpt\nreceipt:s\n\n\0');
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('s');
    c.write('UNSUBSCRIBE\nid:1\nreceipt:u\n\n\0');
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('u');
    c.write('BEGIN\ntransaction:t\nreceipt:b\n\n\0ABORT\ntransaction:t\nreceipt:a\n\n\0');
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('b');
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('a');
    c.write('SEND\ndestination:/queue/rcpt\npersistent:true\nreceipt:p\n\nx\0DISCONNECT\nreceipt:d\n\n\0');
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('p');
    expect((await c.next('RECEIPT')).headers['receipt-id']).toBe('d');
    await c.closed;
  });
});

describe('heart-beats', () => {
  it('negotiates, sends EOLs, and drops a client whose heart-beats stop', async () => {
    const c = await rawStompClient(server.port);
    let eols = 0;
    c.socket.on('data', (d: Buffer) => {
      if (d.length === 1 && d[0] === 0x0a) eols++;
    });
    c.write('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\nheart-beat:40,40\n\n\0');
    const f = await c.next('CONNECTED');
    expect(f.headers['heart-beat']).toBe('50,300');
    // Heart-beat for a while: the server keeps the connection.
    const started = Date.now();
    while (Date.now() - started < 800) {
      c.write('\n');
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(c.isClosed()).toBe(false);
    expect(eols).toBeGreaterThan(5);
    // Stop: gone after 2x the interval (600 ms), not much later.
    const stopped = Date.now();
    await c.closed;
    const silentFor = Date.now() - stopped;
    expect(silentFor).toBeGreaterThanOrEqual(500);
    expect(silentFor).toBeLessThan(2500);
  });

  it('heart-beat 0,0 means none in either direction', async () => {
    const c = await rawConnected(
      server.port,
      'accept-version:1.2\nlogin:guest\npasscode:guest\nheart-beat:0,0\n',
    );
    expect(c.frames[0]!.headers['heart-beat']).toBe('0,0');
    c.socket.destroy();
  });

  it('a malformed heart-beat header is an ERROR', async () => {
    const c = await rawStompClient(server.port);
    c.write('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\nheart-beat:abc\n\n\0');
    expect((await c.next('ERROR')).headers['message']).toBe('Invalid heart-beat header');
    await c.closed;
  });
});

describe('ProtocolAdapter', () => {
  it('snapshots count bytes; closeConnection sends ERROR and closes', async () => {
    const c = await rawConnected(
      server.port,
      'accept-version:1.1\nlogin:guest\npasscode:guest\nclient-id:snap\n',
    );
    const snap = await until(
      () => [...server.adapter.connections()].find((s) => s.clientId === 'snap'),
      'snapshot',
    );
    expect(snap.protocol).toBe('stomp');
    expect(snap.protocolVersion).toBe('STOMP 1.1');
    expect(snap.state).toBe('running');
    expect(snap.bytesIn).toBeGreaterThan(20);
    expect(snap.bytesOut).toBeGreaterThan(20);
    expect(snap.clientProperties?.['login']).toBe('guest');
    expect(snap.clientProperties?.['passcode']).toBeUndefined();
    await server.adapter.closeConnection(snap.id, 'closed by administrator');
    const e = await c.next('ERROR');
    expect(e.headers['message']).toBe('closed by administrator');
    await c.closed;
    await until(() => ![...server.adapter.connections()].some((s) => s.id === snap.id), 'connection gone');
  });
});

describe('adapter close', () => {
  it('close() tells connected clients (ERROR) and closes them, then stops listening', async () => {
    const s = await startStompServer();
    const c = await rawConnected(s.port);
    await s.adapter.close({ drainMs: 1000 });
    const e = await c.next('ERROR');
    expect(e.headers['message']).toBe('broker shutdown');
    await c.closed;
    expect([...s.adapter.connections()]).toHaveLength(0);
    await expect(rawStompClient(s.port)).rejects.toThrow();
    await s.amqp.close({ drainMs: 0 });
    await s.broker.close();
  });
});
