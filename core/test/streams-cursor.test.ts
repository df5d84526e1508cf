import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StreamCursor } from '../src/streams/stream-cursor.js';
import {
  activeMemberIndex,
  assignPartitions,
  murmur3x86_32,
  partitionName,
  partitionOf,
} from '../src/streams/partitions.js';

describe('stream cursor', () => {
  it('spends credit on delivery and gets it back on settlement, without moving back', () => {
    const c = new StreamCursor(10, 3);
    expect(c.credit).toBe(3);
    c.delivered(10);
    c.delivered(11);
    c.delivered(12);
    expect(c.credit).toBe(0);
    expect(c.position).toBe(13);
    expect(() => c.delivered(13)).toThrow(/without credit/);
    expect(c.settled(11)).toBe(true);
    expect(c.credit).toBe(1);
    expect(c.position).toBe(13); // an ack moves credit only
    expect(c.resumeOffset).toBe(10);
    expect(c.settled(10)).toBe(true);
    expect(c.resumeOffset).toBe(12);
    expect(c.settled(10)).toBe(false);
    expect(c.settled(99)).toBe(false);
    expect(c.settled(12)).toBe(true);
    expect(c.resumeOffset).toBe(13);
  });

  it('follows gaps of a compacted log and never reads backwards', () => {
    const c = new StreamCursor(0, 10);
    c.delivered(0);
    c.delivered(5);
    expect(c.position).toBe(6);
    expect(() => c.delivered(3)).toThrow(/behind/);
  });

  it('moves a reader behind the retained head to the new first offset', () => {
    const c = new StreamCursor(0, 2);
    c.skipTo(50);
    expect(c.position).toBe(50);
    c.delivered(50);
    c.skipTo(40);
    expect(c.position).toBe(51);
  });

  it('refuses a cursor without prefetch', () => {
    expect(() => new StreamCursor(0, 0)).toThrow(/prefetch/);
    expect(() => new StreamCursor(-1, 1)).toThrow(/start/);
  });

  it('resumes at the oldest unsettled delivery whatever the settle order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        (prefetch, picks) => {
          const c = new StreamCursor(0, prefetch);
          const open: number[] = [];
          for (const pick of picks) {
            if (c.credit > 0 && pick % 3 !== 0) {
              open.push(c.position);
              c.delivered(c.position);
            } else if (open.length > 0) {
              const [off] = open.splice(pick % open.length, 1);
              expect(c.settled(off!)).toBe(true);
            }
            expect(c.credit).toBe(prefetch - open.length);
            expect(c.resumeOffset).toBe(open.length ? Math.min(...open) : c.position);
          }
        },
      ),
    );
  });
});

describe('partitioned streams', () => {
  it('hashes with MurmurHash3 x86 32-bit (reference vectors)', () => {
    const h = (s: string, seed: number) => murmur3x86_32(Buffer.from(s, 'utf8'), seed);
    expect(h('', 0)).toBe(0);
    expect(h('', 1)).toBe(0x514e28b7);
    expect(h('', 0xffffffff)).toBe(0x81f16f39);
    expect(h('hello', 0)).toBe(0x248bfa47);
    expect(h('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(h('The quick brown fox jumps over the lazy dog', 0x9747b28c)).toBe(0x2fa826cd);
    expect(h('abc', 0)).toBe(0xb3dd93fa);
  });

  it('routes a key to the same partition every time, spreading keys over all of them', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const p = partitionOf(`order-${i}`, 3);
      expect(partitionOf(`order-${i}`, 3)).toBe(p);
      counts[p]!++;
    }
    for (const n of counts) expect(n).toBeGreaterThan(800);
    expect(partitionName('orders', 2)).toBe('orders-2');
    expect(() => partitionOf('k', 0)).toThrow();
  });

  it('gives each partition one active member, spread, and moves few on join and leave', () => {
    expect(assignPartitions(6, ['a', 'b', 'c'])).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(assignPartitions(3, ['a'])).toEqual(['a', 'a', 'a']);
    expect(assignPartitions(2, [])).toEqual([undefined, undefined]);
    expect(assignPartitions(3, ['a', 'c'])).toEqual(['a', 'c', 'a']);
    expect(activeMemberIndex(4, 3)).toBe(1);
    expect(activeMemberIndex(0, 0)).toBe(-1);
  });
});
