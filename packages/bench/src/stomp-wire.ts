/**
 * A minimal STOMP 1.2 client over a raw net.Socket, the bench's lean load client: identical
 * for every broker, and cheap enough that the broker, not the client, is what a run measures
 * (stompit, parsing every header into objects and streaming every body, saturated its core
 * before Junction did). Only what the STOMP scenarios need: CONNECT, SUBSCRIBE, SEND frames
 * prebuilt by the caller and written in batches, ACK by the `ack` header, RECEIPTs.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { FrameParser, type FrameHandler, type MessageView } from './stomp-wire-parser.js';

export type { MessageView } from './stomp-wire-parser.js';

const escapeValue = (s: string): string =>
  s.replace(/[\\\r\n:]/g, (c) => (c === '\\' ? '\\\\' : c === '\r' ? '\\r' : c === '\n' ? '\\n' : '\\c'));

/** A whole frame: command, 1.2-escaped headers, body, NUL. */
export function frame(
  command: string,
  headers: Record<string, string>,
  body: Buffer = Buffer.alloc(0),
): Buffer {
  let head = `${command}\n`;
  for (const [k, v] of Object.entries(headers)) head += `${escapeValue(k)}:${escapeValue(v)}\n`;
  return Buffer.concat([Buffer.from(`${head}\n`, 'utf8'), body, Buffer.from([0])]);
}

const ACK_HEAD = Buffer.from('ACK\nid:', 'latin1');
const ACK_TAIL = Buffer.from('\n\n\0', 'latin1');
const ACK_BUFFER = 64 * 1024;

export class StompWire implements FrameHandler {
  /** Called for every MESSAGE; the view is only valid during the call. */
  onMessage: (m: MessageView) => void = () => {};
  /** An ERROR frame or a socket failure after CONNECTED. */
  onError: (err: Error) => void = (err) => {
    throw err;
  };
  private readonly parser = new FrameParser(this);
  private readonly receipts = new Map<string, () => void>();
  private connecting?: { resolve: () => void; reject: (e: Error) => void };
  private closing = false;
  // ACKs of one socket read are gathered here and written once, after the read is parsed.
  private acks = Buffer.allocUnsafe(ACK_BUFFER);
  private ackLen = 0;
  private nextReceipt = 0;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      this.flushAcks();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('STOMP connection closed')));
  }

  /** Connects to stomp://[login:passcode@]host[:port] and waits for CONNECTED. */
  static connect(url: string): Promise<StompWire> {
    const u = new URL(url);
    const socket = tcpConnect(Number(u.port || 61613), u.hostname);
    const client = new StompWire(socket);
    return new Promise<StompWire>((resolve, reject) => {
      client.connecting = { resolve: () => resolve(client), reject };
      socket.write(
        frame('CONNECT', {
          'accept-version': '1.2',
          host: '/',
          login: decodeURIComponent(u.username) || 'guest',
          passcode: decodeURIComponent(u.password) || 'guest',
          'heart-beat': '0,0',
        }),
      );
    });
  }

  /** SUBSCRIBEs with a receipt, resolving once the broker has the subscription. */
  subscribe(headers: Record<string, string>): Promise<void> {
    return new Promise((resolve) => {
      const receipt = this.receiptId(resolve);
      this.socket.write(frame('SUBSCRIBE', { ...headers, receipt }));
    });
  }

  /** A fresh receipt id whose RECEIPT calls `callback`; put it in a frame's `receipt` header. */
  receiptId(callback: () => void): string {
    const id = `r${++this.nextReceipt}`;
    this.receipts.set(id, callback);
    return id;
  }

  /** ACKs a client-individual MESSAGE with its `ack` header's bytes, unchanged (still escaped). */
  ack(m: MessageView): void {
    if (m.ackStart < 0) throw new Error('STOMP: MESSAGE without an ack header');
    const need = ACK_HEAD.length + (m.ackEnd - m.ackStart) + ACK_TAIL.length;
    if (this.ackLen + need > this.acks.length) {
      this.flushAcks();
      if (need > this.acks.length) this.acks = Buffer.allocUnsafe(need);
    }
    let p = this.ackLen;
    p += ACK_HEAD.copy(this.acks, p);
    p += m.buf.copy(this.acks, p, m.ackStart, m.ackEnd);
    p += ACK_TAIL.copy(this.acks, p);
    this.ackLen = p;
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private flushAcks(): void {
    if (this.ackLen === 0) return;
    // A copy: the socket may hold on to what it is given, and `acks` is reused.
    this.socket.write(Buffer.from(this.acks.subarray(0, this.ackLen)));
    this.ackLen = 0;
  }

  private fail(err: Error): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.destroy();
    if (this.connecting) this.connecting.reject(err);
    else this.onError(err);
  }

  // FrameHandler, called by the parser.
  connected(): void {
    const c = this.connecting;
    this.connecting = undefined;
    c?.resolve();
  }

  message(m: MessageView): void {
    this.onMessage(m);
  }

  receipt(id: string): void {
    const cb = this.receipts.get(id);
    this.receipts.delete(id);
    cb?.();
  }

  error(message: string, body: string): void {
    this.fail(new Error(`STOMP ERROR: ${message}${body ? ` (${body.trim()})` : ''}`));
  }
}
