/**
 * The node link between in-process nodes on real loopback sockets: authentication, requests
 * both ways, one-way messages with backpressure, one connection per pair, refusals (wrong
 * secret, another protocol version), peer-down with pending requests, and redial.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '@junction/testkit';
import { LinkError, LINK_PROTOCOL_VERSION, type PeerChannel } from '../src/index.js';
import { encodeFrame, FrameKind } from '../src/link/frame.js';
import { encodeHello } from '../src/link/handshake.js';
import { closeLinks, linkUp, rawPeer, startLink } from './link-fixture.js';

const ECHO = 1;
const NOTE = 2;
const FAILS = 3;
const NEVER = 4;

afterEach(closeLinks);

/** What a request rejected with. */
async function rejection(p: Promise<unknown>): Promise<LinkError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LinkError);
  return err as LinkError;
}

describe('node link', () => {
  it('authenticates two nodes that exchange requests and one-way messages both ways', async () => {
    const a = await startLink('a');
    const b = await startLink('b');
    const notes: string[] = [];
    for (const t of [a, b]) {
      t.link.handle(ECHO, (peer, body) => Buffer.concat([Buffer.from(`${t.link.nodeId}<-${peer}:`), body]));
      t.link.handle(NOTE, (peer, body) => void notes.push(`${t.link.nodeId}<-${peer}:${body.toString()}`));
      t.link.handle(FAILS, async () => {
        throw new Error('handler says no');
      });
    }
    await linkUp(a, b);
    expect(a.ups).toEqual(['b']);
    expect(b.ups).toEqual(['a']);
    expect((await a.link.peer('b').request(ECHO, Buffer.from('x'), 5000)).toString()).toBe('b<-a:x');
    expect((await b.link.peer('a').request(ECHO, Buffer.from('y'), 5000)).toString()).toBe('a<-b:y');
    // Many at once: each reply finds its own request.
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => a.link.peer('b').request(ECHO, Buffer.from(String(i)), 5000)),
    );
    expect(replies.map((r) => r.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `b<-a:${i}`));
    expect(a.link.peer('b').send(NOTE, Buffer.from('n1'))).toBe(true);
    expect(b.link.peer('a').send(NOTE, Buffer.from('n2'))).toBe(true);
    await until(() => notes.length === 2, 'both notes');
    expect(notes.sort()).toEqual(['a<-b:n2', 'b<-a:n1']);

    const failed = await rejection(a.link.peer('b').request(FAILS, Buffer.alloc(0), 5000));
    expect(failed.code).toBe('REMOTE');
    expect(failed.message).toContain('handler says no');
    const unhandled = await rejection(a.link.peer('b').request(99, Buffer.alloc(0), 5000));
    expect(unhandled.code).toBe('NO_HANDLER');
    // The link survives both.
    expect((await a.link.peer('b').request(ECHO, Buffer.from('z'), 5000)).toString()).toBe('b<-a:z');
    const [status] = a.link.status();
    expect(status).toMatchObject({ nodeId: 'b', direction: 'dialed', pendingRequests: 0 });
  });

  it('links three nodes with one connection per pair, dialed by the lower id', async () => {
    const nodes = [await startLink('n1'), await startLink('n2'), await startLink('n3')];
    for (const t of nodes) t.link.handle(ECHO, (peer) => Buffer.from(`${t.link.nodeId}<-${peer}`));
    // Every node is told about every other, as the registry will: only the lower id dials.
    for (const from of nodes) {
      for (const to of nodes) if (from !== to) from.link.connect(to.link.nodeId, '127.0.0.1', to.port);
    }
    await until(() => nodes.every((t) => t.link.upPeers().length === 2), 'a full mesh');
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to) continue;
        const reply = await from.link.peer(to.link.nodeId).request(ECHO, Buffer.alloc(0), 5000);
        expect(reply.toString()).toBe(`${to.link.nodeId}<-${from.link.nodeId}`);
      }
    }
    const directions = (t: (typeof nodes)[number]) =>
      Object.fromEntries(t.link.status().map((s) => [s.nodeId, s.direction]));
    expect(directions(nodes[0]!)).toEqual({ n2: 'dialed', n3: 'dialed' });
    expect(directions(nodes[1]!)).toEqual({ n1: 'accepted', n3: 'dialed' });
    expect(directions(nodes[2]!)).toEqual({ n1: 'accepted', n2: 'accepted' });
    for (const t of nodes) expect(t.ups).toHaveLength(2);
  });

  it('refuses a node with a wrong secret, and both sides log why', async () => {
    const a = await startLink('a');
    const b = await startLink('b', { secret: 'another secret of 32 bytes, nope' });
    a.link.connect('b', '127.0.0.1', b.port);
    const reason = /does not have this cluster secret/;
    await a.logged('node link refused', { peer: 'b', reason });
    await b.logged('node link refused', { peer: 'a', reason });
    expect(a.link.peer('b').up).toBe(false);
    expect(a.ups).toEqual([]);
    expect(b.ups).toEqual([]);
    expect((await rejection(a.link.peer('b').request(ECHO, Buffer.alloc(0), 1000))).code).toBe(
      'NOT_CONNECTED',
    );
    expect(() => b.link.peer('a').send(NOTE, Buffer.alloc(0))).toThrow(/not connected/);
  });

  it('refuses another protocol version and says so to the peer', async () => {
    const a = await startLink('a');
    const p = rawPeer(a.port, 'future', { handshake: false });
    const hello = encodeHello({
      version: LINK_PROTOCOL_VERSION + 1,
      maxFrameBytes: 1 << 20,
      nonce: Buffer.alloc(32, 7),
      nodeId: 'future',
    });
    p.socket.write(encodeFrame(FrameKind.HELLO, 0, 0, hello));
    await p.closed;
    const expected = `node link protocol version mismatch: peer speaks ${LINK_PROTOCOL_VERSION + 1}, this node ${LINK_PROTOCOL_VERSION}`;
    expect(p.frames.map((f) => f.kind)).toEqual([FrameKind.HELLO, FrameKind.REFUSE]);
    expect(p.frames[1]!.body.toString()).toBe(expected);
    await a.logged('node link refused', { reason: expected });
  });

  it('declares a closed peer down at once and rejects its pending requests', async () => {
    const a = await startLink('a');
    const b = await startLink('b');
    b.link.handle(NEVER, () => new Promise<Buffer>(() => undefined));
    await linkUp(a, b);
    const pending = Array.from({ length: 3 }, () =>
      rejection(a.link.peer('b').request(NEVER, Buffer.alloc(0), 60_000)),
    );
    await until(() => a.link.status()[0]?.pendingRequests === 3, 'three pending');
    await b.link.close();
    for (const err of await Promise.all(pending)) {
      expect(err.code).toBe('PEER_DOWN');
      expect(err.peerId).toBe('b');
    }
    expect(a.downs).toEqual([{ peer: 'b', reason: expect.any(String) as string }]);
    expect(a.link.peer('b').up).toBe(false);
    expect((await rejection(a.link.peer('b').request(ECHO, Buffer.alloc(0), 1000))).code).toBe(
      'NOT_CONNECTED',
    );
    expect((await rejection(a.link.peer('nobody').request(ECHO, Buffer.alloc(0), 1000))).code).toBe(
      'NOT_CONNECTED',
    );
  });

  it('times a request out, and bounds the requests pending on a peer', async () => {
    const a = await startLink('a', { maxPendingRequests: 5 });
    const b = await startLink('b');
    b.link.handle(NEVER, () => new Promise<Buffer>(() => undefined));
    await linkUp(a, b);
    const peer = a.link.peer('b');
    expect((await rejection(peer.request(NEVER, Buffer.alloc(0), 50))).code).toBe('TIMEOUT');
    const held = Array.from({ length: 5 }, () => rejection(peer.request(NEVER, Buffer.alloc(0), 60_000)));
    const over = await rejection(peer.request(NEVER, Buffer.alloc(0), 60_000));
    expect(over.code).toBe('TOO_MANY_PENDING');
    a.link.disconnect('b');
    for (const err of await Promise.all(held)) expect(err.code).toBe('PEER_DOWN');
  });

  it('refuses a body larger than the peer accepts without sending it', async () => {
    const a = await startLink('a');
    const b = await startLink('b', { maxFrameBytes: 4096 });
    b.link.handle(ECHO, (_p, body) => body);
    await linkUp(a, b);
    const err = await rejection(a.link.peer('b').request(ECHO, Buffer.alloc(5000), 5000));
    expect(err.code).toBe('FRAME_TOO_LARGE');
    expect(() => a.link.peer('b').send(ECHO, Buffer.alloc(5000))).toThrow(LinkError);
    expect((await a.link.peer('b').request(ECHO, Buffer.alloc(4000), 5000)).length).toBe(4000);
  });

  it('tells a producer to wait when the buffer is above the high-water mark, and resumes it on drain', async () => {
    const a = await startLink('a', { highWaterBytes: 64 * 1024 });
    const b = await startLink('b');
    let received = 0;
    b.link.handle(NOTE, (_p, body) => void (received += body.length));
    await linkUp(a, b);
    const peer = a.link.peer('b');
    const body = Buffer.alloc(16 * 1024);
    const total = 400;
    let sent = 0;
    let waits = 0;
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (sent < total) {
          sent++;
          if (!peer.send(NOTE, body)) {
            waits++;
            return;
          }
        }
        unsubscribe();
        resolve();
      };
      const unsubscribe = peer.onDrain(pump);
      pump();
    });
    expect(waits).toBeGreaterThan(0);
    await until(() => received === total * body.length, 'every message received', 10_000);
  });

  it('redials a peer that went away once it listens again, with a replacement link', async () => {
    const a = await startLink('a', { reconnect: { minMs: 20, maxMs: 100 } });
    const b1 = await startLink('b');
    await linkUp(a, b1);
    const port = b1.port;
    await b1.link.close();
    await until(() => a.downs.length === 1, 'b down');
    // A few dials are refused (nothing listens) before b is back on the same port.
    await a.logged('node link not established', { peer: 'b', reason: /ECONNREFUSED/ });
    const b2 = await startLink('b', {}, port);
    b2.link.handle(ECHO, () => Buffer.from('again'));
    await until(() => a.link.peer('b').up, 'b up again', 10_000);
    expect((await a.link.peer('b').request(ECHO, Buffer.alloc(0), 5000)).toString()).toBe('again');
    expect(a.ups).toEqual(['b', 'b']);
  });
});

describe('node link channels and flow', () => {
  it('gives each incarnation its own channel, down for good when it ends', async () => {
    const a = await startLink('a', { reconnect: { minMs: 20, maxMs: 100 } });
    const b = await startLink('b');
    b.link.handle(ECHO, (_p, body) => body);
    b.link.handle(NEVER, () => new Promise<Buffer>(() => undefined));
    const channels: PeerChannel[] = [];
    a.link.on('peer-up', (_peer, ch) => void channels.push(ch));
    await linkUp(a, b);
    const first = a.link.channel('b')!;
    expect(channels).toEqual([first]);
    expect(first.maxBodyBytes).toBe(16 * 1024 * 1024 - 11);
    // timeoutMs 0: no timer; the link's end still settles it.
    const unbounded = rejection(first.request(NEVER, Buffer.alloc(0), 0));
    const reasons: string[] = [];
    first.onDown((r) => reasons.push(r));
    b.link.channel('a')!.close('test cut');
    expect((await unbounded).code).toBe('PEER_DOWN');
    await until(() => reasons.length === 1, 'first channel down');
    expect(first.open).toBe(false);
    expect(() => first.send(ECHO, Buffer.alloc(0))).toThrow(LinkError);
    // The dialer comes back with a new channel; the old one stays down.
    await until(() => channels.length === 2 && a.link.channel('b')?.open, 'a second channel');
    expect(channels[1]).not.toBe(first);
    expect(first.open).toBe(false);
    expect((await channels[1]!.request(ECHO, Buffer.from('2'), 5000)).toString()).toBe('2');
    first.onDown((r) => reasons.push(`late: ${r}`));
    expect(reasons).toEqual([expect.any(String), `late: ${reasons[0]}`]);
  });

  it('replaces an older connection from the same node with a newer one', async () => {
    const a = await startLink('a');
    const old = rawPeer(a.port, 'x');
    await old.authenticated;
    await until(() => a.ups.length === 1, 'x up');
    const newer = rawPeer(a.port, 'x');
    await newer.authenticated;
    await old.closed;
    await until(() => a.ups.length === 2, 'x up again');
    expect(a.downs).toEqual([{ peer: 'x', reason: 'replaced by a newer connection from the same node' }]);
    expect(newer.isClosed()).toBe(false);
    expect(a.link.upPeers()).toEqual(['x']);
  });

  it('stops reading from a peer while its handler calls in flight are at the bound', async () => {
    const a = await startLink('a');
    const b = await startLink('b', { maxPendingRequests: 10 });
    const held: (() => void)[] = [];
    const seen: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    b.link.handle(NOTE, (_p, body) => {
      seen.push(body.readUInt32BE(0));
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      return new Promise<void>((resolve) =>
        held.push(() => {
          inFlight--;
          resolve();
        }),
      );
    });
    await linkUp(a, b);
    const total = 100;
    for (let i = 0; i < total; i++) {
      const body = Buffer.alloc(4);
      body.writeUInt32BE(i);
      a.link.peer('b').send(NOTE, body);
    }
    // Release the held calls one at a time: b reads on as they finish, never past the bound.
    for (let released = 0; released < total; released++) {
      await until(() => held.length > 0, `call ${released}`);
      held.shift()!();
    }
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(maxInFlight).toBe(10);
    expect(a.downs).toEqual([]);
  });

  it('logs a listener that throws and carries on', async () => {
    const a = await startLink('a');
    const b = await startLink('b');
    a.link.on('peer-up', () => {
      throw new Error('listener bug');
    });
    b.link.handle(ECHO, (_p, body) => body);
    await linkUp(a, b);
    await a.logged('node link listener threw', { event: 'peer-up' });
    expect((await a.link.peer('b').request(ECHO, Buffer.from('ok'), 5000)).toString()).toBe('ok');
  });
});
