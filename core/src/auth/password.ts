/**
 * Password hashes in RabbitMQ's format (rabbit_password_hashing_sha256): base64 of a
 * 4-byte salt followed by SHA-256(salt + password). Using the same format means user
 * definitions exported from RabbitMQ import into Junction with their passwords working.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function hashPassword(password: string, salt: Buffer = randomBytes(4)): string {
  return Buffer.concat([salt, saltedDigest(salt, password)]).toString('base64');
}

/** Runs on every login (each MQTT device's CONNECT): one digest, no base64 round trip. */
export function verifyPassword(password: string, passwordHash: string): boolean {
  const raw = Buffer.from(passwordHash, 'base64');
  if (raw.length !== 36) return false;
  return timingSafeEqual(raw.subarray(4), saltedDigest(raw.subarray(0, 4), password));
}

function saltedDigest(salt: Buffer, password: string): Buffer {
  return createHash('sha256').update(salt).update(password, 'utf8').digest();
}
