/**
 * STOMP over WebSocket with @stomp/stompjs (the browser STOMP client) using the `ws`
 * package as its WebSocket, against the adapter's ws endpoint on /ws.
 */
import { Client, Versions, type IMessage } from '@stomp/stompjs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStompServer, stompitClient, until, type WsTestServer } from '@junction/testkit';
import { collect, destroyClient, sendWithReceipt } from './helpers.js';

let server: WsTestServer;

beforeAll(async () => {
  server = await startStompServer();
});
afterAll(async () => {
  await server.close();
});

function wsClient(version?: '1.0' | '1.1'): Promise<Client> {
  const url = `ws://127.0.0.1:${server.wsPort}/ws`;
  return new Promise((resolve, reject) => {
    const client = new Client({
      brokerURL: url,
      connectHeaders: { login: 'guest', passcode: 'guest', host: '/' },
      ...(version ? { stompVersions: new Versions([version]) } : {}),
      webSocketFactory: () =>
        new WebSocket(
          url,
          version ? [`v${version.replace('.', '')}.stomp`] : ['v12.stomp', 'v11.stomp', 'v10.stomp'],
        ),
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      onConnect: () => resolve(client),
      onStompError: (f) => reject(new Error(f.headers['message'])),
      onWebSocketError: () => reject(new Error('websocket error')),
    });
    client.activate();
  });
}

describe('@stomp/stompjs over WebSocket', () => {
  it('connects with STOMP 1.2 and round trips a message with a receipt', async () => {
    const c = await wsClient();
    expect(c.connectedVersion).toBe('1.2');
    const got: IMessage[] = [];
    c.subscribe('/queue/ws-q', (m) => got.push(m), { id: 'ws-1' });
    const receipt = new Promise<void>((r) => c.watchForReceipt('rcpt-1', () => r()));
    c.publish({
      destination: '/queue/ws-q',
      body: 'hello over ws',
      headers: { receipt: 'rcpt-1', 'x-k': 'a:b\nc' },
    });
    await receipt;
    await until(() => got.length === 1, 'message');
    expect(got[0]!.body).toBe('hello over ws');
    expect(got[0]!.headers['x-k']).toBe('a:b\nc');
    const snap = [...server.adapter.connections()].find(
      (s) => s.protocolVersion === 'STOMP 1.2' && s.bytesIn > 0,
    );
    expect(snap).toBeDefined();
    await c.deactivate();
  });

  it('negotiates 1.1 and 1.0 (accept-version, matching sub-protocol)', async () => {
    const c11 = await wsClient('1.1');
    expect(c11.connectedVersion).toBe('1.1');
    await c11.deactivate();
    const c10 = await wsClient('1.0');
    expect(c10.connectedVersion).toBe('1.0');
    await c10.deactivate();
  });

  it('interoperates with a TCP client: binary bodies, client acks, topics', async () => {
    const c = await wsClient();
    const got: IMessage[] = [];
    c.subscribe(
      '/topic/ws.interop',
      (m) => {
        got.push(m);
        m.ack();
      },
      { id: 'ws-2', ack: 'client-individual' },
    );
    // A sync round trip so the subscription exists before the TCP client publishes.
    await new Promise<void>((r) => {
      c.watchForReceipt('sync', () => r());
      c.publish({ destination: '/queue/ws-sync', body: '', headers: { receipt: 'sync' } });
    });
    const tcp = await stompitClient(server.port);
    const body = Buffer.from([0, 1, 2, 0, 250]);
    await sendWithReceipt(
      tcp,
      { destination: '/topic/ws.interop', 'content-length': String(body.length) },
      body,
    );
    await until(() => got.length === 1, 'ws delivery');
    expect(Buffer.from(got[0]!.binaryBody).equals(body)).toBe(true);
    // A large body takes the head + body path of the WebSocket transport.
    const big = Buffer.alloc(50_000, 7);
    await sendWithReceipt(
      tcp,
      { destination: '/topic/ws.interop', 'content-length': String(big.length) },
      big,
    );
    await until(() => got.length === 2, 'large ws delivery');
    expect(Buffer.from(got[1]!.binaryBody).equals(big)).toBe(true);

    // And back: stompjs publishes, stompit consumes.
    const s = collect(tcp, { destination: '/queue/ws-back' });
    await sendWithReceipt(tcp, { destination: '/queue/ws-sync2' }, '');
    c.publish({ destination: '/queue/ws-back', body: 'from ws' });
    await until(() => s.messages.length === 1, 'tcp delivery');
    expect(s.messages[0]!.body.toString()).toBe('from ws');
    destroyClient(tcp);
    await c.deactivate();
  });

  it('an ERROR frame reaches a stompjs client', async () => {
    const c = await wsClient();
    const err = new Promise<string>((r) => {
      c.onStompError = (f) => r(f.headers['message'] ?? '');
    });
    c.subscribe('/amq/queue/ws-missing-queue', () => {}, { id: 'x' });
    expect(await err).toMatch(/NOT_FOUND/);
    await c.deactivate();
  });

  it('a raw WebSocket: several frames in one message, one frame split over messages', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.wsPort}/ws`, ['v12.stomp']);
    const got: string[] = [];
    ws.on('message', (d: Buffer) => got.push(d.toString()));
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    expect(ws.protocol).toBe('v12.stomp');
    ws.send(
      'CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\0SUBSCRIBE\nid:1\ndestination:/queue/ws-raw\nreceipt:s\n\n\0',
    );
    await until(() => got.some((m) => m.startsWith('RECEIPT')), 'subscribe receipt');
    expect(got[0]).toMatch(/^CONNECTED\n/);
    ws.send('SEND\ndestination:/queue/ws-r');
    ws.send('aw\n\nsplit bo');
    ws.send(Buffer.from('dy\0'));
    const msg = await until(() => got.find((m) => m.startsWith('MESSAGE')), 'message');
    expect(msg.endsWith('split body\0')).toBe(true);
    ws.close();
  });
});
