/** What the stream crash test's child appends, shared by the child and the test. */
import type { StreamSettings } from '@junction/core';

export const CRASH_REF = { vhost: '/', queue: 'crash-stream' };
/** Small segments, so lives roll segments and recovery reads across them. */
export const CRASH_SETTINGS: StreamSettings = { maxSegmentBytes: 64 * 1024 };
/** The Redis child's key prefix. */
export const CRASH_KEY_PREFIX = 'crash:';
export const CRASH_PRODUCERS = ['sensor-a', 'sensor-b'] as const;

/** 1 KiB: the producer's name and sequence, padded. */
export function crashBody(producer: string, seq: number): Buffer {
  return Buffer.from(`${producer}:${seq}:`.padEnd(1024, '.'));
}

export function parseCrashBody(body: Buffer): { producer: string; seq: number } {
  const [producer, seq] = body.toString().split(':');
  return { producer: producer!, seq: Number(seq) };
}
