import { describe, expect, it } from 'vitest';
import { seededRandom } from '@junction/testkit';
import { placeQueue, type NodeLoad } from '../src/index.js';

describe('placeQueue', () => {
  it('keeps a queue on its declaring node while that node is within its share', () => {
    expect(
      // 2+1+1+1 = 5 queues over 3 nodes: a share of 2, which c stays within (b would be the fewest-lowest).
      placeQueue('c', [
        { id: 'a', queues: 2 },
        { id: 'b', queues: 1 },
        { id: 'c', queues: 1 },
      ]),
    ).toBe('c');
  });

  it('sends it to the live node with the fewest queues once the declaring node has its share', () => {
    expect(
      placeQueue('a', [
        { id: 'a', queues: 4 },
        { id: 'b', queues: 3 },
        { id: 'c', queues: 1 },
      ]),
    ).toBe('c');
    // Ties go to the lowest id, so every node computes the same answer.
    expect(
      placeQueue('a', [
        { id: 'a', queues: 2 },
        { id: 'c', queues: 1 },
        { id: 'b', queues: 1 },
      ]),
    ).toBe('b');
  });

  it('places on a live node when the declaring one is not live, and refuses without any', () => {
    expect(
      placeQueue('gone', [
        { id: 'a', queues: 2 },
        { id: 'b', queues: 0 },
      ]),
    ).toBe('b');
    expect(() => placeQueue('a', [])).toThrow('no live node');
  });

  it('spreads queues declared from random nodes, or all from one, within max/min 1.5', () => {
    for (const pick of [(r: () => number) => Math.floor(r() * 3), () => 0]) {
      const random = seededRandom(17);
      const loads: NodeLoad[] = ['n1', 'n2', 'n3'].map((id) => ({ id, queues: 0 }));
      for (let i = 0; i < 30; i++) {
        const to = placeQueue(loads[pick(random)]!.id, loads);
        loads.find((l) => l.id === to)!.queues++;
      }
      const counts = loads.map((l) => l.queues);
      expect(Math.max(...counts) / Math.min(...counts)).toBeLessThanOrEqual(1.5);
    }
  });
});
