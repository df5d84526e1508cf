/**
 * Password hashes in RabbitMQ's format (rabbit_password_hashing_sha256): base64 of a
 * 4-byte salt followed by SHA-256(salt + password). Using the same format means user
 * definitions exported from RabbitMQ import into Junction with their passwords working.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function hashPassword(password: string, salt: Buffer = randomBytes(4)): string {
  const digest = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

export function verifyPassword(password: string, passwordHash: string): boolean {
  const raw = Buffer.from(passwordHash, 'base64');
  if (raw.length !== 36) return false;
  const expected = Buffer.from(hashPassword(password, raw.subarray(0, 4)), 'base64');
  return timingSafeEqual(raw, expected);
}
