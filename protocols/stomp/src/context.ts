/**
 * What the parts of an open STOMP connection (subscriptions, acks, transactions, SEND
 * routing) share: its core session, its settings and its way out to the client.
 */
import type { Session } from '@junction/core';
import type { StompConfig } from './config.js';
import type { ErrorReport } from './errors.js';
import type { Frame } from './parser.js';

export interface StompContext {
  readonly session: Session;
  readonly cfg: StompConfig;
  /** Negotiated version: 10, 11 or 12. */
  readonly version: number;
  /** The CONNECT `client-id`, which names durable subscription queues. */
  readonly clientId: string | undefined;
  /** False once the connection is closing: deliveries stop. */
  isOpen(): boolean;
  send(command: string, headers: string[], body?: Buffer): void;
  /** Answers the frame's `receipt` header, if it has one. */
  receipt(frame: Frame): void;
  /** An ERROR the client must hear outside the handling of one of its frames; then close. */
  errorAndClose(report: ErrorReport, receiptId?: string): void;
  /** Writes an encoded frame; false when the socket's buffer is full. */
  write(frame: Buffer): boolean;
  /** Writes a frame head and a body shared by reference. */
  writeParts(head: Buffer, body: Buffer): boolean;
}
