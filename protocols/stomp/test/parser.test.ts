/**
 * The frame parser and encoder on their own: chunking must not matter, limits hold
 * while bytes arrive, escaping round trips.
 */
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../src/encode.js';
import { FrameParser, type Frame } from '../src/parser.js';

const limits = { maxFrameSize: 1 << 20, maxHeaders: 100, maxHeaderLength: 4096 };

function parseAll(data: Buffer, splits: number[], version = 12): { frames: Frame[]; error?: string } {
  const frames: Frame[] = [];
  let error: string | undefined;
  const p = new FrameParser(
    limits,
    (f) => frames.push(f),
    (e) => (error = e.message),
  );
  p.version = version;
  let at = 0;
  for (const s of [...splits, data.length]) {
    if (s > at) p.push(data.subarray(at, s));
    at = Math.max(at, s);
  }
  return error === undefined ? { frames } : { frames, error };
}

describe('FrameParser', () => {
  const body = Buffer.from([0, 1, 0, 2, 10, 13, 10, 0]);
  const stream = Buffer.concat([
    Buffer.from('\n\r\n'),
    encodeFrame('SEND', ['destination', '/queue/a', 'k', 'v:\n\\\r'], body, 12),
    Buffer.from('\n\n'),
    Buffer.from('MESSAGE\r\nfoo:bar\r\nfoo:second\r\n\r\nplain body\0'),
    encodeFrame('ACK', ['id', '7'], undefined, 12),
  ]);

  it('parses the same frames however the bytes are split', () => {
    const whole = parseAll(stream, []);
    expect(whole.error).toBeUndefined();
    expect(whole.frames.map((f) => f.command)).toEqual(['SEND', 'MESSAGE', 'ACK']);
    expect(whole.frames[0]!.headers['k']).toBe('v:\n\\\r');
    expect(whole.frames[0]!.body.equals(body)).toBe(true);
    expect(whole.frames[1]!.headers['foo']).toBe('bar'); // first repeated header wins
    expect(whole.frames[1]!.body.toString()).toBe('plain body');
    // every single split point, and byte by byte
    for (let i = 1; i < stream.length; i++) {
      const r = parseAll(stream, [i]);
      expect(r.frames.map((f) => [f.command, f.headers, f.body.toString('hex')])).toEqual(
        whole.frames.map((f) => [f.command, f.headers, f.body.toString('hex')]),
      );
    }
    const bytes = parseAll(
      stream,
      Array.from({ length: stream.length }, (_, i) => i),
    );
    expect(bytes.frames).toHaveLength(3);
  });

  it('enforces limits before buffering', () => {
    const p = new FrameParser(
      { maxFrameSize: 100, maxHeaders: 2, maxHeaderLength: 10 },
      () => {},
      (e) => errors.push(e.message),
    );
    const errors: string[] = [];
    p.push(Buffer.from('SEND\nabcdefghijkl'));
    expect(errors[0]).toMatch(/header longer than 10/);
    expect(p.dead).toBe(true);
  });

  it('does not unescape for 1.0 or in CONNECT frames', () => {
    const r = parseAll(Buffer.from('SEND\nk:a\\cb\n\n\0'), [], 0);
    expect(r.frames[0]!.headers['k']).toBe('a\\cb');
    const c = parseAll(Buffer.from('CONNECT\npasscode:a\\tb\n\n\0'), [], 12);
    expect(c.frames[0]!.headers['passcode']).toBe('a\\tb');
  });

  it('1.1 has no \\r escape', () => {
    expect(parseAll(Buffer.from('SEND\nk:a\\rb\n\n\0'), [], 11).error).toMatch(/escape/);
    expect(parseAll(Buffer.from('SEND\nk:a\\rb\n\n\0'), [], 12).frames[0]!.headers['k']).toBe('a\rb');
  });

  it('keeps names Object.prototype has as plain headers, and CRLF blank lines end the headers', () => {
    const r = parseAll(
      Buffer.from('SEND\r\n__proto__:a\r\nconstructor:b\r\ntoString:c\r\nhasOwnProperty:d\r\n\r\nx\0'),
      [],
    );
    const h = r.frames[0]!.headers;
    expect([h['__proto__'], h['constructor'], h['toString'], h['hasOwnProperty']]).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(Object.keys(h)).toEqual(['__proto__', 'constructor', 'toString', 'hasOwnProperty']);
    // Names the client did not send are absent, inherited ones included.
    expect(h['valueOf']).toBeUndefined();
    expect('isPrototypeOf' in h).toBe(false);
    expect(r.frames[0]!.body.toString()).toBe('x');
  });
});
