/**
 * Unguessable names the broker makes up (server-named queues, consumer tags): 16 random bytes
 * in base64url, as RabbitMQ's. They come from a pool filled 4 KiB at a time, because
 * `randomBytes(16)` per name is a call into OpenSSL each time, and a fleet of devices
 * subscribing makes one consumer tag each (5% of the broker's time connecting 19,000 of them).
 */
import { randomFillSync } from 'node:crypto';

const TOKEN_BYTES = 16;
const pool = Buffer.alloc(4096);
let used = pool.length;

export function randomToken(): string {
  if (used + TOKEN_BYTES > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const token = pool.toString('base64url', used, used + TOKEN_BYTES);
  used += TOKEN_BYTES;
  return token;
}
