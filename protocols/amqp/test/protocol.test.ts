/**
 * The connection state machine at the byte level: protocol header negotiation,
 * heartbeats, channel rules (AMQP 0-9-1 §2.2.4, §2.3.7, §4.2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, startAmqpServer, until, type RawClient, type TestServer } from '@junction/testkit';
import {
  PROTOCOL_HEADER,
  closeOk,
  frame,
  method,
  methodsIn,
  open,
  replyCode,
  startOk,
  tuneOk,
} from './wire.js';

let server: TestServer;
beforeAll(async () => {
  server = await startAmqpServer({ heartbeat: 1 });
});
afterAll(async () => server.close());

/** Connects and completes the handshake; returns the client. */
async function handshake(heartbeat = 0) {
  const c = await untilTuned();
  c.socket.write(Buffer.concat([tuneOk(131072, heartbeat), open()]));
  await untilMethod(c, 10, 41, 'connection.open-ok');
  return c;
}

/** Connects, answers connection.start, and waits for connection.tune. */
async function untilTuned(): Promise<RawClient> {
  const c = await rawClient(server.port);
  c.socket.write(PROTOCOL_HEADER);
  await untilMethod(c, 10, 10, 'connection.start');
  c.socket.write(startOk());
  await untilMethod(c, 10, 30, 'connection.tune');
  return c;
}

function untilMethod(c: RawClient, classId: number, methodId: number, what: string): Promise<true> {
  return until(
    () => methodsIn(c.received()).some((m) => m.classId === classId && m.methodId === methodId),
    what,
  );
}

const closeFrom = (data: Buffer, channel: number) =>
  methodsIn(data).find(
    (m) =>
      m.channel === channel &&
      ((m.classId === 10 && m.methodId === 50) || (m.classId === 20 && m.methodId === 40)),
  );

describe('AMQP connection state machine', () => {
  it('answers a wrong protocol header with its own and closes', async () => {
    const c = await rawClient(server.port);
    c.socket.write(Buffer.from('AMQP\u0000\u0000\u0009\u0002'));
    await c.closed;
    expect(c.received().equals(PROTOCOL_HEADER)).toBe(true);
  });

  it('answers HTTP with the protocol header too', async () => {
    const c = await rawClient(server.port);
    c.socket.write('GET / HTTP/1.1\r\n\r\n');
    await c.closed;
    expect(c.received().equals(PROTOCOL_HEADER)).toBe(true);
  });

  it('offers PLAIN and AMQPLAIN and the capabilities it has', async () => {
    const c = await rawClient(server.port);
    c.socket.write(PROTOCOL_HEADER);
    await until(() => methodsIn(c.received()).length > 0, 'connection.start');
    const text = c.received().toString('latin1');
    for (const s of [
      'PLAIN AMQPLAIN',
      'publisher_confirms',
      'consumer_cancel_notify',
      'basic.nack',
      'connection.blocked',
      'authentication_failure_close',
    ]) {
      expect(text).toContain(s);
    }
    c.socket.destroy();
  });

  it('refuses connection.open for an unknown vhost with 530 NOT_ALLOWED', async () => {
    const c = await untilTuned();
    c.socket.write(Buffer.concat([tuneOk(), open('no-such-vhost')]));
    await until(() => closeFrom(c.received(), 0), 'connection.close');
    expect(replyCode(closeFrom(c.received(), 0)!.payload)).toBe(530);
    c.socket.destroy();
  });

  it('sends heartbeats and drops a peer that sends none', async () => {
    const c = await handshake(1);
    const started = Date.now();
    await until(
      () => c.received().includes(Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce])),
      'a heartbeat frame',
      4000,
    );
    await c.closed; // nothing sent by us: closed after two missed intervals
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it('closes the connection with 504 for a method on an unopened channel', async () => {
    const c = await handshake();
    c.socket.write(
      method('QueueDeclare', 5, {
        queue: 'x',
        durable: false,
        exclusive: false,
        autoDelete: false,
        passive: false,
        nowait: false,
        arguments: {},
      }),
    );
    await until(() => closeFrom(c.received(), 0), 'connection.close');
    expect(replyCode(closeFrom(c.received(), 0)!.payload)).toBe(504);
    c.socket.write(closeOk());
    await c.closed;
  });

  it('closes with 505 for content without a publish, and with 501 for a bad frame-end', async () => {
    const c = await handshake();
    c.socket.write(method('ChannelOpen', 1, { outOfBand: '' }));
    c.socket.write(frame(3, 1, Buffer.from('body without header')));
    await until(() => closeFrom(c.received(), 0), 'connection.close');
    expect(replyCode(closeFrom(c.received(), 0)!.payload)).toBe(505);

    const d = await handshake();
    d.socket.write(frame(1, 0, Buffer.from([0, 10, 0, 51]), 0x00));
    await until(() => closeFrom(d.received(), 0), 'connection.close');
    expect(replyCode(closeFrom(d.received(), 0)!.payload)).toBe(501);
  });

  it('refuses immediate=true with 540, as RabbitMQ does', async () => {
    const c = await handshake();
    c.socket.write(method('ChannelOpen', 1, { outOfBand: '' }));
    c.socket.write(
      method('BasicPublish', 1, { exchange: '', routingKey: 'q', mandatory: false, immediate: true }),
    );
    await until(() => closeFrom(c.received(), 0), 'connection.close');
    expect(replyCode(closeFrom(c.received(), 0)!.payload)).toBe(540);
    c.socket.destroy();
  });

  it('refuses a frame larger than the negotiated frame-max with 501', async () => {
    const c = await handshake();
    c.socket.write(frame(3, 1, Buffer.alloc(200_000)));
    await until(() => closeFrom(c.received(), 0), 'connection.close');
    expect(replyCode(closeFrom(c.received(), 0)!.payload)).toBe(501);
  });

  it('answers channel.flow and keeps a soft-closed channel number unusable until close-ok', async () => {
    const c = await handshake();
    c.socket.write(method('ChannelOpen', 1, { outOfBand: '' }));
    c.socket.write(method('ChannelFlow', 1, { active: false }));
    await until(
      () => methodsIn(c.received()).some((m) => m.channel === 1 && m.classId === 20 && m.methodId === 21),
      'flow-ok',
    );
    c.socket.write(
      method('BasicPublish', 1, { exchange: 'missing', routingKey: '', mandatory: false, immediate: false }),
    );
    c.socket.write(emptyContentHeader(1));
    await until(() => closeFrom(c.received(), 1), 'channel.close');
    expect(replyCode(closeFrom(c.received(), 1)!.payload)).toBe(404);
    // Frames for the closing channel are dropped until our close-ok, then it may be opened again.
    c.socket.write(method('ChannelCloseOk', 1, {}));
    c.socket.write(method('ChannelOpen', 1, { outOfBand: '' }));
    await until(
      () =>
        methodsIn(c.received()).filter((m) => m.channel === 1 && m.classId === 20 && m.methodId === 11)
          .length === 2,
      'second open-ok',
    );
    c.socket.destroy();
  });
});

/** A basic-class content header for an empty body: a publish completes with it alone. */
function emptyContentHeader(channel: number): Buffer {
  const b = Buffer.alloc(14 + 8);
  b.writeUInt8(2, 0);
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(14, 3);
  b.writeUInt16BE(60, 7);
  b.writeUInt16BE(0, 9);
  b.writeBigUInt64BE(0n, 11);
  b.writeUInt16BE(0, 19);
  b.writeUInt8(0xce, 21);
  return b;
}
