/** How the Redis store encodes values: msgpack (msgpackr), client-chosen keys kept as written. */
import { pack as msgpack, unpack as msgunpack } from 'msgpackr';
import { escapeStoredKeys, unescapeStoredKeys } from '@junction/core';

/** msgpack with client-chosen keys kept as written (`__proto__`: see core's stored-keys.ts). */
export const pack = (value: unknown): Buffer => msgpack(escapeStoredKeys(value));
export const unpack = (b: Buffer | Uint8Array): unknown => unescapeStoredKeys(msgunpack(b));

/** msgpackr gives binary back as a Uint8Array or a Buffer; the core wants a Buffer. */
export function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
