/**
 * A raw TCP client for tests that must send what no well-behaved client sends: it writes
 * bytes as given and keeps everything the server sends. Protocol framing lives with each
 * protocol's tests (its own parser or an independent encoder), on top of `onData`.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export interface RawClient {
  socket: Socket;
  /** Everything received so far, in one buffer. */
  received(): Buffer;
  /** Resolves when the server (or the test) closed the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  /** Writes unless the socket is already gone (a test may write after the server hung up). */
  write(data: string | Buffer): void;
}

/**
 * Connects to 127.0.0.1:port; `onData` sees each chunk as it arrives. With `tls` the bytes go
 * over TLS (those options: CA, client certificate), and it resolves once the handshake is done.
 */
export async function rawClient(
  port: number,
  onData?: (chunk: Buffer) => void,
  tls?: ConnectionOptions,
): Promise<RawClient> {
  const socket = tls ? tlsConnect({ ...tls, port, host: '127.0.0.1' }) : connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    onData?.(c);
  });
  socket.on('error', () => {}); // a reset by the server is an outcome the test checks, not a crash
  const closed = new Promise<void>((r) =>
    socket.once('close', () => {
      isClosed = true;
      r();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    received: () => Buffer.concat(chunks),
    closed,
    isClosed: () => isClosed,
    write(data) {
      if (!socket.destroyed) socket.write(data);
    },
  };
}

/**
 * Sends `bytes` one at a time, every `everyMs`, never the last one, until the server hangs up;
 * resolves with the milliseconds from the connect to the hang-up. For handshake deadlines:
 * a peer that is always about to finish must still be cut off.
 */
export async function trickleUntilClosed(port: number, bytes: Buffer, everyMs: number): Promise<number> {
  const started = Date.now();
  const c = await rawClient(port);
  let i = 0;
  const timer = setInterval(() => {
    if (i < bytes.length - 1) c.write(bytes.subarray(i, ++i));
  }, everyMs);
  await c.closed;
  clearInterval(timer);
  return Date.now() - started;
}

/** A complete WebSocket upgrade request for `path` (RFC 6455's sample key). */
export const wsUpgradeRequest = (path = '/ws'): Buffer =>
  Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
