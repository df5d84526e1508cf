/**
 * The one msgpack codec of the broker's own records: the Redis store's bodies and
 * definitions, and the frames nodes send each other (cluster/frames.ts). msgpackr keeps
 * Buffers, bigints and Dates as they are; client-chosen keys go through stored-keys.ts so a
 * header or argument named `__proto__` comes back as written.
 */
import { pack as msgpack, unpack as msgunpack } from 'msgpackr';
import { escapeStoredKeys, unescapeStoredKeys } from './stored-keys.js';

/** msgpack with client-chosen keys kept as written (`__proto__`: see stored-keys.ts). */
export const pack = (value: unknown): Buffer => msgpack(escapeStoredKeys(value));
export const unpack = (b: Buffer | Uint8Array): unknown => unescapeStoredKeys(msgunpack(b));

/** msgpackr gives binary back as a Uint8Array or a Buffer; the core wants a Buffer. */
export function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
