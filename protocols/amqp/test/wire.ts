/** Raw AMQP frames for tests that must say things no well-behaved client says. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// amqplib's generated codec: an independent encoder, so tests do not check our codec against itself.
// (loaded by path: the package's "exports" hide it)
const defs = require(join(dirname(require.resolve('amqplib')), 'lib', 'defs.js')) as {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  [name: string]: unknown;
};

export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

export function method(name: string, channel: number, fields: Record<string, unknown> = {}): Buffer {
  return defs.encodeMethod(defs[name] as number, channel, fields);
}

export function contentHeader(channel: number, size: number, props: Record<string, unknown> = {}): Buffer {
  return defs.encodeProperties(60, channel, size, props);
}

export function frame(type: number, channel: number, payload: Buffer, end = 0xce): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt8(type, 0);
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  payload.copy(b, 7);
  b.writeUInt8(end, 7 + payload.length);
  return b;
}

export const startOk = (user = 'guest', pass = 'guest', capabilities: Record<string, boolean> = {}) =>
  method('ConnectionStartOk', 0, {
    clientProperties: {
      capabilities: { authentication_failure_close: true, consumer_cancel_notify: true, ...capabilities },
    },
    mechanism: 'PLAIN',
    response: Buffer.from(`\u0000${user}\u0000${pass}`),
    locale: 'en_US',
  });

export const tuneOk = (frameMax = 131072, heartbeat = 0) =>
  method('ConnectionTuneOk', 0, { channelMax: 0, frameMax, heartbeat });
export const open = (vhost = '/') =>
  method('ConnectionOpen', 0, { virtualHost: vhost, capabilities: '', insist: false });
export const closeOk = () => method('ConnectionCloseOk', 0, {});

/** Reads frames out of what a server sent: [type, channel, classId, methodId] per method frame. */
export function methodsIn(
  data: Buffer,
): { channel: number; classId: number; methodId: number; payload: Buffer }[] {
  const out: { channel: number; classId: number; methodId: number; payload: Buffer }[] = [];
  let i = 0;
  if (data.subarray(0, 4).toString() === 'AMQP') i = 8;
  while (i + 7 <= data.length) {
    const type = data.readUInt8(i);
    const channel = data.readUInt16BE(i + 1);
    const size = data.readUInt32BE(i + 3);
    if (i + 8 + size > data.length) break;
    const payload = data.subarray(i + 7, i + 7 + size);
    if (type === 1)
      out.push({ channel, classId: payload.readUInt16BE(0), methodId: payload.readUInt16BE(2), payload });
    i += 8 + size;
  }
  return out;
}

/** reply-code of a connection.close / channel.close payload. */
export const replyCode = (payload: Buffer): number => payload.readUInt16BE(4);

/**
 * The client side of the AMQP handshake over raw bytes, advanced by everything the server has
 * sent so far: start-ok on connection.start, `tuneAndOpen` on connection.tune, `payload` once
 * connection.open-ok arrives. A connection.close from the server is answered with close-ok
 * and its reply code kept in `code`.
 */
export class RawHandshake {
  stage: 'start' | 'tune' | 'open' | 'sent' = 'start';
  code: number | null = null;

  constructor(
    private readonly write: (bytes: Buffer) => void,
    private readonly tuneAndOpen: Buffer,
    private readonly payload: Buffer,
  ) {}

  advance(received: Buffer): void {
    const ms = methodsIn(received);
    const has = (methodId: number) => ms.some((m) => m.classId === 10 && m.methodId === methodId);
    if (this.stage === 'start' && has(10)) {
      this.stage = 'tune';
      this.write(startOk());
    } else if (this.stage === 'tune' && has(30)) {
      this.stage = 'open';
      this.write(this.tuneAndOpen);
    } else if (this.stage === 'open' && has(41)) {
      this.stage = 'sent';
      this.write(this.payload);
    }
    const close = ms.find((m) => m.channel === 0 && m.classId === 10 && m.methodId === 50);
    if (close && this.code === null) {
      this.code = replyCode(close.payload);
      this.write(closeOk());
    }
  }
}
