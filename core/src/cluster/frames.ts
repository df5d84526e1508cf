/**
 * What two nodes say to each other about queues (forwarded publishes, proxy consumers), and
 * its one encoding: msgpack through the stores' codec (storage/packed.ts), so a message's
 * body, headers and typed field values cross the channel exactly as they are stored.
 *
 * Requests (answered with a `Reply`), from the node that uses a queue to its owner:
 *   enq    publishes into queue `q` of vhost `v` (a batch: those of one turn), answered with one
 *          result each once the owner's store committed them
 *   sub    a proxy consumer `id` (the id is the remote node's, unique on this channel)
 *   unsub  its cancel (its unacked deliveries stay until settled or the channel goes)
 *   get    basic.get; the entry is settled with proxy id 0
 *   stats  the queue's QueueStats
 *   purge  drop the ready messages; answered with the count
 * One-way messages:
 *   stl    remote -> owner: settle deliveries `d` of proxy `id` (0: gets) with outcome `o`
 *   dlv    owner -> remote: delivery `d` to proxy `id`; `n` is the delivery count before it
 *   cxl    owner -> remote: the owner cancelled proxy `id`: the queue was deleted (the client
 *          is cancelled) or `moved` to another owner (the remote re-attaches there)
 */
import type { ErrorCode } from '../errors.js';
import type { FieldTable, Message, MessageProperties } from '../message.js';
import type { QueueStats } from '../queues/queue-type.js';
import type { SettleOutcome } from '../session.js';
import { pack, toBuffer, unpack } from '../storage/packed.js';

/** A message as it crosses the channel (the per-protocol encoded-properties cache stays behind). */
export interface WireMessage {
  readonly x: string;
  readonly k: string;
  readonly p: MessageProperties;
  readonly b: Buffer;
}

/** One publish of an `enq` batch: the message and its own expiration (ms, null: none). */
export interface WirePublish {
  readonly m: WireMessage;
  readonly ttl: number | null;
}

export type Frame =
  | { t: 'enq'; v: string; q: string; ps: WirePublish[] }
  | {
      t: 'sub';
      v: string;
      q: string;
      id: number;
      tag: string;
      prio: number;
      excl: boolean;
      credit: number;
      args: FieldTable;
    }
  | { t: 'unsub'; id: number }
  | { t: 'get'; v: string; q: string; noAck: boolean }
  | { t: 'stats'; v: string; q: string }
  | { t: 'purge'; v: string; q: string }
  | { t: 'stl'; id: number; o: SettleOutcome; d: number[] }
  | { t: 'dlv'; id: number; d: number; m: WireMessage; n: number; e: number }
  | { t: 'cxl'; id: number; code: ErrorCode; text: string; moved: boolean };

export type RequestFrame = Extract<Frame, { t: 'enq' | 'sub' | 'unsub' | 'get' | 'stats' | 'purge' }>;
export type MessageFrame = Extract<Frame, { t: 'stl' | 'dlv' | 'cxl' }>;

/**
 * Why a request failed. `not-owner`: the queue is not served here (it moved, or was never
 * here): the asking node waits for the new owner. `refused`: the owner's own error for it
 * (a BrokerError code and text, e.g. an exclusive consumer in the way). `rejected`: a
 * reject-publish limit refused the publish. `failed`: the owner's store failed the write.
 */
export type Failure =
  | { ok: false; why: 'not-owner'; text: string }
  | { ok: false; why: 'refused'; code: ErrorCode; text: string }
  | { ok: false; why: 'rejected' | 'failed'; text: string };

/** What became of one publish: taken (and the queue's consumers falling behind, or not), or why not. */
export type PublishResult = { ok: true; congested?: boolean } | Failure;

export type Reply =
  | { ok: true }
  | { ok: true; each: PublishResult[] }
  | { ok: true; stats: QueueStats }
  | { ok: true; count: number }
  | { ok: true; got: { d: number; m: WireMessage; n: number; e: number; left: number } | null }
  | Failure;

/** Largest frame an OwnerChannel must carry (the node link's default frame limit). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Largest message body that crosses a channel: a frame's worth, less room for its properties. */
export const MAX_WIRE_BODY_BYTES = MAX_FRAME_BYTES - 1024 * 1024;
/** Publishes one `enq` batch carries at most, and the body bytes after which a batch ends. */
export const MAX_BATCH_PUBLISHES = 1024;
export const BATCH_BODY_BYTES = 1024 * 1024;

/** A frame larger than the channel carries: it is not sent (the request fails with this). */
export class FrameTooLarge extends Error {
  constructor(bytes: number, limit: number) {
    super(`a frame of ${bytes} bytes is over the node channel's limit of ${limit}`);
    this.name = 'FrameTooLarge';
  }
}

export function toWire(msg: Message): WireMessage {
  return { x: msg.exchange, k: msg.routingKey, p: msg.properties, b: msg.body };
}

export function fromWire(m: WireMessage): Message {
  return { exchange: m.x, routingKey: m.k, properties: m.p, body: toBuffer(m.b) };
}

export function encodeFrame(f: Frame | Reply): Buffer {
  return pack(f);
}

/** Throws on a frame that is not msgpack or not an object with a string `t` (a bug or a foreign peer). */
export function decodeFrame(b: Buffer): Frame {
  const f = unpack(b) as { t?: unknown } | null;
  if (f === null || typeof f !== 'object' || typeof f.t !== 'string')
    throw new Error('malformed cluster frame');
  return f as Frame;
}

export function decodeReply(b: Buffer): Reply {
  const r = unpack(b) as { ok?: unknown } | null;
  if (r === null || typeof r !== 'object' || typeof r.ok !== 'boolean')
    throw new Error('malformed cluster reply');
  return r as Reply;
}
