/**
 * Bad input on the node link from a hand-written peer on a raw socket: garbage and
 * application frames before authentication, a handshake that never completes, oversize and
 * malformed frames after it, and a peer that stops reading. Each closes only the offending
 * connection with a logged reason; a link between two real nodes carries on beside it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRandom, until } from '@junction/testkit';
import { encodeFrame, FrameKind } from '../src/link/frame.js';
import { Handshake } from '../src/link/handshake.js';
import { closeLinks, linkUp, rawPeer, startLink, type TestLink } from './link-fixture.js';

const ECHO = 1;
const NOTE = 2;

let a: TestLink;
let b: TestLink;
const handled: string[] = [];

beforeEach(async () => {
  handled.length = 0;
  a = await startLink('a', { handshakeTimeoutMs: 300, maxFrameBytes: 64 * 1024 });
  b = await startLink('b');
  a.link.handle(ECHO, (peer, body) => {
    handled.push(peer);
    return body;
  });
  await linkUp(b, a);
});
afterEach(closeLinks);

/** The link between the two real nodes still works. */
async function othersUnaffected(): Promise<void> {
  expect((await b.link.peer('a').request(ECHO, Buffer.from('still'), 5000)).toString()).toBe('still');
  expect(a.downs).toEqual([]);
}

describe('node link bad input', () => {
  it('closes a connection that sends garbage before authenticating', async () => {
    const p = rawPeer(a.port, 'x', { handshake: false });
    p.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: junction\r\n\r\n'));
    await p.closed;
    await a.logged('node link refused', { reason: /exceeds the limit of 512|shorter than its header/ });
    await othersUnaffected();
  });

  it('parses nothing but the handshake before authentication', async () => {
    const p = rawPeer(a.port, 'x', { handshake: false });
    p.socket.write(encodeFrame(FrameKind.REQUEST, ECHO, 1, Buffer.from('sneaky')));
    await p.closed;
    await a.logged('node link refused', { reason: 'REQUEST frame before authentication' });
    expect(handled).toEqual([]);
    expect(p.frames.map((f) => f.kind)).toEqual([FrameKind.HELLO, FrameKind.REFUSE]);
    await othersUnaffected();
  });

  it('refuses a malformed HELLO and a second HELLO', async () => {
    const valid = new Handshake(Buffer.from('any'), 'x', 4096, undefined).hello;
    const cases: [Buffer[], string][] = [
      [[Buffer.from('AMQP\x00\x00\x09\x01')], 'not a Junction node link (bad HELLO magic)'],
      [[valid.subarray(0, 20)], 'malformed HELLO (too short)'],
      [
        [Buffer.concat([valid, Buffer.from(' !')])],
        "malformed HELLO: node id 'x !' is not 1-64 of A-Z a-z 0-9 . _ -",
      ],
      [[valid, valid], 'second HELLO'],
    ];
    for (const [hellos, reason] of cases) {
      const p = rawPeer(a.port, 'x', { handshake: false });
      for (const h of hellos) p.socket.write(encodeFrame(FrameKind.HELLO, 0, 0, h));
      await p.closed;
      await a.logged('node link refused', { reason });
      expect(p.frames.at(-1)?.body.toString()).toBe(reason);
    }
    await othersUnaffected();
  });

  it('closes a connection whose handshake does not complete in time', async () => {
    const started = Date.now();
    const p = rawPeer(a.port, 'x', { handshake: false });
    await p.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await a.logged('node link not established', { reason: 'handshake not complete after 300 ms' });
    await othersUnaffected();
  });

  it('drops connections past the bound of handshakes in progress, and accepts again after', async () => {
    const h = await startLink('h', { maxHandshakes: 2, handshakeTimeoutMs: 400 });
    const silent = [rawPeer(h.port, 'x', { handshake: false }), rawPeer(h.port, 'x', { handshake: false })];
    await until(() => silent.every((p) => p.frames.length === 1), 'two HELLOs from h');
    const third = rawPeer(h.port, 'x', { handshake: false });
    await third.closed;
    expect(third.frames).toEqual([]);
    await h.logged('node link connection dropped: too many handshakes in progress', { limit: 2 });
    for (const p of silent) await p.closed; // their deadline
    const late = rawPeer(h.port, 'y');
    await late.authenticated;
    await until(() => h.link.peer('y').up, 'y up');
  });

  it('closes an authenticated connection that sends an oversize frame, and only that one', async () => {
    const p = rawPeer(a.port, 'x');
    await p.authenticated;
    await until(() => a.link.peer('x').up, 'x up');
    p.socket.write(encodeFrame(FrameKind.MESSAGE, NOTE, 0, Buffer.alloc(64 * 1024)));
    await p.closed;
    await until(() => a.downs.length === 1, 'x down');
    expect(a.downs[0]).toEqual({
      peer: 'x',
      reason: `frame of ${64 * 1024 + 11} bytes exceeds the limit of 65536`,
    });
    a.downs.length = 0;
    await othersUnaffected();
  });

  it('closes an authenticated connection on an unknown frame kind or a short frame', async () => {
    const unknown = rawPeer(a.port, 'x');
    await unknown.authenticated;
    unknown.socket.write(encodeFrame(99 as FrameKind, 0, 0));
    await unknown.closed;
    await until(
      () => a.downs.some((d) => d.reason === 'unexpected unknown kind 99 frame'),
      'closed on kind 99',
    );

    const short = rawPeer(a.port, 'y');
    await short.authenticated;
    short.socket.write(Buffer.from([0, 0, 0, 2, 7, 0]));
    await short.closed;
    await until(
      () => a.downs.some((d) => d.reason === 'frame length 2 is shorter than its header'),
      'closed',
    );
    a.downs.length = 0;
    await othersUnaffected();
  });

  it('survives random bytes before and after authentication (seeded)', async () => {
    const seed = 17;
    const random = seededRandom(seed);
    const bytes = (n: number): Buffer =>
      Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    for (let round = 0; round < 20; round++) {
      const p = rawPeer(a.port, `f${round}`, { handshake: round % 2 === 1 });
      if (round % 2 === 1) await p.authenticated;
      // A plausible header first half the time (a small length, a known kind), then noise.
      const header = encodeFrame(FrameKind.REQUEST, ECHO, 1, bytes(8)).subarray(0, 11);
      p.socket.write(
        Buffer.concat([random() < 0.5 ? header : Buffer.alloc(0), bytes(1 + Math.floor(random() * 600))]),
      );
      p.socket.end();
      await p.closed;
    }
    // Each authenticated one went down on its own, for a reason the link names; none is a bug.
    expect(a.downs.map((d) => d.peer)).toEqual(Array.from({ length: 10 }, (_, i) => `f${2 * i + 1}`));
    expect(a.logs.filter((l) => /internal error/.test(String(l['reason'])))).toEqual([]);
    a.downs.length = 0;
    await othersUnaffected();
  }, 30_000);

  it('closes a peer that stops reading before its buffer grows past the limit', async () => {
    const limit = 4 * 1024 * 1024;
    const c = await startLink('c', { maxBufferedBytes: limit, highWaterBytes: 256 * 1024 });
    const p = rawPeer(c.port, 'z');
    await p.authenticated;
    await until(() => c.link.peer('z').up, 'z up');
    p.socket.pause();
    const peer = c.link.peer('z');
    const body = Buffer.alloc(64 * 1024);
    let refusedWrites = 0;
    let maxBuffered = 0;
    // A producer that ignores send()'s false: the link must cut it off, not buffer forever.
    for (let i = 0; i < 20_000 && peer.up; i++) {
      if (!peer.send(NOTE, body)) refusedWrites++;
      maxBuffered = Math.max(maxBuffered, c.link.status()[0]?.bufferedBytes ?? 0);
      if (i % 16 === 15) await new Promise((r) => setTimeout(r, 1));
    }
    expect(peer.up).toBe(false);
    expect(refusedWrites).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(limit);
    expect(c.downs[0]?.reason).toMatch(
      /^peer is not reading: \d+ bytes buffered for it, over the limit of 4194304$/,
    );
    p.socket.destroy();
    await othersUnaffected();
  });
});
