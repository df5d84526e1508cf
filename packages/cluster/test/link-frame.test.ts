/**
 * The node link's frame decoder on its own: every split point of a stream of frames, one
 * byte at a time, the size limit checked from the length field before any body is buffered,
 * and a parse stopped by its handler resumed where it stopped.
 */
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError, FrameKind, type Frame } from '../src/link/frame.js';

const frames = [
  encodeFrame(FrameKind.REQUEST, 7, 1, Buffer.from('hello')),
  encodeFrame(FrameKind.PING, 0, 2),
  encodeFrame(FrameKind.MESSAGE, 65535, 0, Buffer.alloc(300, 1)),
  encodeFrame(FrameKind.REPLY, 0, 0xffffffff, Buffer.from('x')),
];
const stream = Buffer.concat(frames);
const expected = [
  { kind: FrameKind.REQUEST, type: 7, corr: 1, body: 'hello' },
  { kind: FrameKind.PING, type: 0, corr: 2, body: '' },
  { kind: FrameKind.MESSAGE, type: 65535, corr: 0, body: Buffer.alloc(300, 1).toString() },
  { kind: FrameKind.REPLY, type: 0, corr: 0xffffffff, body: 'x' },
];

function decodeAll(chunks: Buffer[], decoder = new FrameDecoder(4096)): object[] {
  const out: object[] = [];
  const onFrame = (f: Frame): boolean => {
    out.push({ kind: f.kind, type: f.type, corr: f.corr, body: f.body.toString() });
    return true;
  };
  for (const c of chunks) decoder.push(c, onFrame);
  return out;
}

describe('node link frame decoder', () => {
  it('decodes the same frames at every split point', () => {
    for (let at = 0; at <= stream.length; at++) {
      expect(decodeAll([stream.subarray(0, at), stream.subarray(at)])).toEqual(expected);
    }
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    expect(decodeAll(bytes)).toEqual(expected);
  });

  it('refuses an oversize frame from its length field alone, before its body arrives', () => {
    const decoder = new FrameDecoder(1024);
    const header = encodeFrame(FrameKind.MESSAGE, 1, 0, Buffer.alloc(2000)).subarray(0, 4);
    expect(() => decoder.push(header, () => true)).toThrow(FrameError);
    expect(() => new FrameDecoder(1024).push(Buffer.from([0, 0, 0, 3, 1, 2, 3]), () => true)).toThrow(
      'frame length 3 is shorter than its header',
    );
    // Exactly at the limit is accepted.
    const atLimit = encodeFrame(FrameKind.MESSAGE, 1, 0, Buffer.alloc(1024 - 11));
    expect(decodeAll([atLimit], new FrameDecoder(1024))).toHaveLength(1);
  });

  it('keeps what follows a frame whose handler stopped the parse, for the next push', () => {
    const decoder = new FrameDecoder(4096);
    const seen: number[] = [];
    let stopAfter = 1;
    const onFrame = (f: Frame): boolean => {
      seen.push(f.corr);
      return seen.length !== stopAfter;
    };
    decoder.push(stream, onFrame);
    expect(seen).toEqual([1]);
    stopAfter = 3;
    decoder.push(Buffer.alloc(0), onFrame);
    expect(seen).toEqual([1, 2, 0]);
    stopAfter = 0;
    decoder.push(Buffer.alloc(0), onFrame);
    expect(seen).toEqual([1, 2, 0, 0xffffffff]);
    expect(decoder.buffered).toBe(0);
  });
});
