/**
 * The codec against an independent one (amqplib's generated defs): every method round-trips,
 * field tables of every type decode as amqplib encodes them, and the frame parser accepts a
 * stream split at every byte position (CONVENTIONS #3, after nats-server's split tests).
 */
import { describe, expect, it } from 'vitest';
import {
  FrameParser,
  PROTOCOL_HEADER,
  decodeContentHeader,
  decodeMethod,
  encodeContent,
  encodeMethodFrame,
  methodsById,
  MAX_TABLE_DEPTH,
  Reader,
  Writer,
} from '../src/wire/index.js';
import { contentHeader, frame, method } from './wire.js';

type Frame = [number, number, string];

function parseAll(chunks: Buffer[], maxFrameSize = 131072): { frames: Frame[]; header: boolean | undefined } {
  const frames: Frame[] = [];
  let header: boolean | undefined;
  const p = new FrameParser({
    maxFrameSize,
    onHeader: (ok) => (header = ok),
    onFrame: (t, ch, payload) => frames.push([t, ch, payload.toString('hex')]),
  });
  for (const c of chunks) p.push(c);
  return { frames, header };
}

describe('frame parser', () => {
  const stream = Buffer.concat([
    PROTOCOL_HEADER,
    method('ChannelOpen', 1, { outOfBand: '' }),
    method('BasicPublish', 1, { exchange: 'x', routingKey: 'k', mandatory: true, immediate: false }),
    contentHeader(1, 5, { contentType: 'text/plain', headers: { a: 1 } }),
    frame(3, 1, Buffer.from('hello')),
    frame(8, 0, Buffer.alloc(0)),
  ]);
  const whole = parseAll([stream]);

  it('parses a whole stream', () => {
    expect(whole.header).toBe(true);
    expect(whole.frames.map(([t, ch]) => [t, ch])).toEqual([
      [1, 1],
      [1, 1],
      [2, 1],
      [3, 1],
      [8, 0],
    ]);
  });

  it('gives the same frames for the stream split at every byte position, and byte by byte', () => {
    for (let i = 1; i < stream.length; i++) {
      expect(parseAll([stream.subarray(0, i), stream.subarray(i)])).toEqual(whole);
    }
    expect(parseAll([...stream].map((b) => Buffer.from([b])))).toEqual(whole);
  });

  it('parses a frame-max frame that arrives one byte a chunk, and the frame after it', () => {
    const body = Buffer.alloc(131072 - 8, 0x61);
    const bytes = Buffer.concat([PROTOCOL_HEADER, frame(3, 1, body), frame(8, 0, Buffer.alloc(0))]);
    const { frames } = parseAll([...bytes].map((b) => Buffer.from([b])));
    expect(frames).toEqual([
      [3, 1, body.toString('hex')],
      [8, 0, ''],
    ]);
  });

  it('rejects a wrong protocol header at the first wrong byte', () => {
    expect(parseAll([Buffer.from('AMQP\u0001')]).header).toBe(false);
    expect(parseAll([Buffer.from('GE')]).header).toBe(false);
  });

  it('refuses oversize frames before buffering them, bad frame-ends and unknown frame types', () => {
    const big = Buffer.alloc(7);
    big.writeUInt8(3, 0);
    big.writeUInt32BE(10_000, 3);
    expect(() => parseAll([PROTOCOL_HEADER, big], 4096)).toThrow(
      /FRAME_ERROR - frame size 10008 exceeds frame_max 4096/,
    );
    expect(() => parseAll([PROTOCOL_HEADER, frame(1, 0, Buffer.alloc(4), 0x00)])).toThrow(/frame end octet/);
    expect(() => parseAll([PROTOCOL_HEADER, frame(9, 0, Buffer.alloc(0))])).toThrow(/unknown frame type 9/);
  });
});

describe('methods', () => {
  it('decodes what amqplib encodes, and encodes what decodes back the same, for every method', () => {
    const sample: Record<string, unknown> = {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: { product: 'x' },
      clientProperties: { p: 'y' },
      mechanisms: Buffer.from('PLAIN'),
      locales: Buffer.from('en_US'),
      mechanism: 'PLAIN',
      response: Buffer.from('\u0000a\u0000b'),
      locale: 'en_US',
      challenge: Buffer.from('c'),
      channelMax: 7,
      frameMax: 131072,
      heartbeat: 30,
      virtualHost: '/v',
      capabilities: '',
      insist: false,
      knownHosts: '',
      replyCode: 404,
      replyText: 'NOT_FOUND',
      classId: 50,
      methodId: 10,
      reason: 'low memory',
      newSecret: Buffer.from('s'),
      outOfBand: '',
      channelId: Buffer.from(''),
      active: true,
      realm: '/data',
      exclusive: true,
      passive: false,
      write: true,
      read: true,
      ticket: 1,
      exchange: 'ex',
      type: 'topic',
      durable: true,
      autoDelete: false,
      internal: true,
      nowait: false,
      arguments: { s: 'str', n: { t: true, list: ['a', false] } }, // width-free values: integers re-encode as 'I'
      ifUnused: true,
      destination: 'd',
      source: 's',
      routingKey: 'a.b',
      queue: 'q',
      messageCount: 12,
      consumerCount: 3,
      ifEmpty: false,
      prefetchSize: 0,
      prefetchCount: 100,
      global: true,
      consumerTag: 'ctag',
      noLocal: false,
      noAck: true,
      mandatory: true,
      immediate: false,
      deliveryTag: 2 ** 40 + 5,
      redelivered: true,
      multiple: true,
      requeue: false,
      clusterId: '',
    };
    expect(methodsById.size).toBe(66);
    for (const info of methodsById.values()) {
      const amqplibName = info.name
        .split(/[.-]/)
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join('');
      const theirs = method(amqplibName, 3, sample);
      const m = decodeMethod(theirs.subarray(7, theirs.length - 1));
      expect(m.name).toBe(info.name);
      const ours = encodeMethodFrame(3, info.name, m.args as Record<string, unknown>);
      expect(ours.equals(theirs), info.name).toBe(true);
    }
  });

  it('refuses unknown methods and truncated or overlong arguments', () => {
    expect(() => decodeMethod(Buffer.from([0, 99, 0, 1]))).toThrow(/COMMAND_INVALID - unknown method 99\/1/);
    const q = method('QueueDeclare', 1, { queue: 'name', arguments: {} });
    const payload = q.subarray(7, q.length - 1);
    expect(() => decodeMethod(payload.subarray(0, payload.length - 2))).toThrow(/SYNTAX_ERROR/);
    expect(() => decodeMethod(Buffer.concat([payload, Buffer.from([0])]))).toThrow(/trailing bytes/);
  });
});

describe('field tables', () => {
  it('decodes every RabbitMQ field type amqplib produces and re-encodes them decodably', () => {
    const table = {
      bool: true,
      int8: { '!': 'byte', value: -5 },
      int16: { '!': 'short', value: -300 },
      int32: { '!': 'int', value: 70000 },
      int64: { '!': 'long', value: 2 ** 40 },
      float: { '!': 'float', value: 1.5 },
      double: { '!': 'double', value: 2.25 },
      str: 'héllo',
      bytes: Buffer.from([1, 2, 3]),
      ts: { '!': 'timestamp', value: 1_700_000_000 },
      nested: { a: [1, 'two', { b: null }] },
      dec: { '!': 'decimal', value: { places: 2, digits: 12345 } },
      nothing: null,
    };
    const theirs = method('QueueDeclare', 1, { queue: 'q', arguments: table });
    const decoded = decodeMethod(theirs.subarray(7, theirs.length - 1)).args as {
      arguments: Record<string, unknown>;
    };
    // Integers of every width come back as plain numbers, a double too; the rest is unchanged.
    expect(decoded.arguments).toEqual({
      ...table,
      int8: -5,
      int16: -300,
      int32: 70000,
      int64: 2 ** 40,
      double: 2.25,
      dec: { '!': 'decimal', value: { scale: 2, digits: 12345 } },
    });
    const again = encodeMethodFrame(1, 'queue.declare', decoded as unknown as Record<string, unknown>);
    expect(decodeMethod(again.subarray(7, again.length - 1)).args).toEqual(decoded);
  });

  /** A top-level table with `levels` levels below it; the innermost is a table, or an empty array. */
  const nested = (levels: number, array = false): Record<string, unknown> => {
    let t: unknown = array ? [] : {};
    for (let i = 0; i < levels; i++) t = { t };
    return t as Record<string, unknown>;
  };
  const levelsOf = (t: unknown): number => {
    let n = 0;
    for (let v = t; v && typeof v === 'object' && 't' in v; n++) v = (v as { t: unknown }).t;
    return n;
  };

  it('decodes tables and arrays nested up to the limit and refuses one level more', () => {
    for (const array of [false, true]) {
      const ok = method('QueueDeclare', 1, { queue: 'q', arguments: nested(MAX_TABLE_DEPTH, array) });
      const args = decodeMethod(ok.subarray(7, ok.length - 1)).args as { arguments: unknown };
      expect(levelsOf(args.arguments)).toBe(MAX_TABLE_DEPTH);
      const over = method('QueueDeclare', 1, { queue: 'q', arguments: nested(MAX_TABLE_DEPTH + 1, array) });
      expect(() => decodeMethod(over.subarray(7, over.length - 1))).toThrow(/SYNTAX_ERROR.*nested deeper/);
    }
  });

  it('encodes a 100,000-deep table without overflowing, writing void below the limit', () => {
    const msg = {
      exchange: '',
      routingKey: 'q',
      body: Buffer.alloc(0),
      properties: { headers: nested(100_000) },
    };
    const [, header] = encodeContent(
      1,
      131072,
      'basic.deliver',
      { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' },
      msg as never,
    );
    const h = decodeContentHeader(header!.subarray(7, header!.length - 1));
    expect(levelsOf(h.properties.headers)).toBe(MAX_TABLE_DEPTH + 1);
    let v: unknown = h.properties.headers;
    for (let i = 0; i < MAX_TABLE_DEPTH + 1; i++) v = (v as Record<string, unknown>).t;
    expect(v).toBeNull();
  });

  it('writes 64-bit longlongs exactly', () => {
    const w = Writer.into(Buffer.alloc(8), 0);
    w.longlong(2 ** 52 + 3);
    expect(new Reader(w.buf, 0, 8).longlong()).toBe(2 ** 52 + 3);
  });
});

describe('content', () => {
  const msg = {
    exchange: 'ex',
    routingKey: 'rk',
    body: Buffer.alloc(10_000, 7),
    properties: {
      contentType: 'a/b',
      headers: { h: 'v' },
      deliveryMode: 2,
      priority: 3,
      timestamp: 1_700_000_000,
      messageId: 'm',
    },
  };

  it('splits bodies so no frame exceeds frame-max, at the exact boundaries', () => {
    for (const frameMax of [4096, 4096 + 1]) {
      for (const size of [0, frameMax - 8 - 1, frameMax - 8, frameMax - 8 + 1, 3 * (frameMax - 8)]) {
        const bufs = encodeContent(
          1,
          frameMax,
          'basic.deliver',
          { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: 'ex', routingKey: 'rk' },
          { ...msg, body: Buffer.alloc(size, 1) },
        );
        const { frames } = parseAll([PROTOCOL_HEADER, ...bufs], frameMax);
        const bodies = frames.filter(([t]) => t === 3).map(([, , hex]) => hex.length / 2);
        expect(bodies.reduce((a, b) => a + b, 0)).toBe(size);
        expect(bodies.every((n) => n <= frameMax - 8)).toBe(true);
        expect(bodies.length).toBe(Math.ceil(size / (frameMax - 8)));
      }
    }
  });

  it('round-trips the basic properties through the content header', () => {
    const [, headerAndBody] = encodeContent(
      1,
      131072,
      'basic.deliver',
      { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: 'ex', routingKey: 'rk' },
      msg,
    );
    const size = headerAndBody!.readUInt32BE(3);
    const h = decodeContentHeader(headerAndBody!.subarray(7, 7 + size));
    expect(h).toMatchObject({ classId: 60, bodySize: 10_000, properties: msg.properties });
  });

  it('does not copy large bodies', () => {
    const body = Buffer.alloc(1 << 20, 3);
    const bufs = encodeContent(
      1,
      131072,
      'basic.deliver',
      { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: '', routingKey: '' },
      { ...msg, body },
    );
    expect(bufs.some((b) => b.buffer === body.buffer)).toBe(true);
  });
});
