/**
 * Node links for the link tests: started on 127.0.0.1 port 0, their log lines kept, their
 * peer events recorded, and closed after each test.
 */
import { connect, type Socket } from 'node:net';
import pino from 'pino';
import { until } from '@junction/testkit';
import { NodeLink, type NodeLinkOptions } from '../src/index.js';
import { encodeFrame, FrameDecoder, FrameKind, type Frame } from '../src/link/frame.js';
import { Handshake } from '../src/link/handshake.js';

export const SECRET = 'test cluster secret, 32 bytes ok';

export interface TestLink {
  link: NodeLink;
  port: number;
  logs: Record<string, unknown>[];
  ups: string[];
  downs: { peer: string; reason: string }[];
  /** The first log line with `msg` whose fields include `fields`, waited for. */
  logged(msg: string, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

const open: NodeLink[] = [];

export async function startLink(
  nodeId: string,
  opts: Partial<Omit<NodeLinkOptions, 'nodeId' | 'log'>> = {},
  listenPort = 0,
): Promise<TestLink> {
  const logs: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const link = new NodeLink({ nodeId, secret: SECRET, log, ...opts });
  open.push(link);
  const { port } = await link.listen('127.0.0.1', listenPort);
  const ups: string[] = [];
  const downs: TestLink['downs'] = [];
  link.on('peer-up', (peer) => ups.push(peer));
  link.on('peer-down', (peer, reason) => downs.push({ peer, reason }));
  const matches = (l: Record<string, unknown>, msg: string, fields: Record<string, unknown>): boolean =>
    l['msg'] === msg &&
    Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? v.test(String(l[k])) : l[k] === v));
  return {
    link,
    port,
    logs,
    ups,
    downs,
    logged: (msg, fields = {}) =>
      until(() => logs.find((l) => matches(l, msg, fields)), `log line '${msg}' ${JSON.stringify(fields)}`),
  };
}

/** Tells each of a and b about the other (the lower id dials) and waits until both are up. */
export async function linkUp(a: TestLink, b: TestLink): Promise<void> {
  a.link.connect(b.link.nodeId, '127.0.0.1', b.port);
  b.link.connect(a.link.nodeId, '127.0.0.1', a.port);
  await until(
    () => a.link.peer(b.link.nodeId).up && b.link.peer(a.link.nodeId).up,
    `${a.link.nodeId} and ${b.link.nodeId} up`,
  );
}

export async function closeLinks(): Promise<void> {
  for (const l of open.splice(0)) await l.close();
}

/**
 * A node link peer written by hand on a raw socket: it completes the handshake (unless told
 * not to), answers pings, records every frame, and lets the test write anything at all.
 */
export interface RawPeer {
  socket: Socket;
  frames: Frame[];
  /** Resolves when the link said READY to us and we to it. */
  authenticated: Promise<void>;
  closed: Promise<void>;
  isClosed(): boolean;
}

export function rawPeer(port: number, nodeId: string, opts: { handshake?: boolean } = {}): RawPeer {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // a reset after the link closes us is what some tests cause
  const hs = new Handshake(Buffer.from(SECRET), nodeId, 1 << 20, undefined);
  const frames: Frame[] = [];
  const decoder = new FrameDecoder(1 << 24);
  let isClosed = false;
  const closed = new Promise<void>((r) =>
    socket.once('close', () => {
      isClosed = true;
      r();
    }),
  );
  let ready: () => void;
  const authenticated = new Promise<void>((r) => (ready = r));
  const send = (kind: FrameKind, corr: number, body?: Buffer): boolean =>
    socket.write(encodeFrame(kind, 0, corr, body));
  socket.on('data', (chunk: Buffer) =>
    decoder.push(chunk, (f) => {
      frames.push({ ...f, body: Buffer.from(f.body) });
      if (opts.handshake === false) return true;
      if (f.kind === FrameKind.HELLO) send(FrameKind.PROOF, 0, hs.onHello(f.body));
      else if (f.kind === FrameKind.PROOF) {
        hs.onProof(f.body);
        send(FrameKind.READY, 0);
      } else if (f.kind === FrameKind.READY) ready();
      else if (f.kind === FrameKind.PING) send(FrameKind.PONG, f.corr);
      return true;
    }),
  );
  if (opts.handshake !== false) send(FrameKind.HELLO, 0, hs.hello);
  return { socket, frames, authenticated, closed, isClosed: () => isClosed };
}
