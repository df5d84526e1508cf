import { describe, expect, it } from 'vitest';
import { ClusterKeys, queueHashTag } from '../src/index.js';

/** What Redis Cluster hashes: the text between the first { and the first } after it. */
const hashedPart = (key: string): string => {
  const open = key.indexOf('{');
  return key.slice(open + 1, key.indexOf('}', open + 1));
};

describe('cluster keys', () => {
  it('put every key of one queue under its whole {vhost/queue} tag', () => {
    const keys = new ClusterKeys('j:');
    for (const [vhost, queue] of [
      ['/', 'orders'],
      ['shop{eu}', 'a}b'],
      ['50%', 'x/y/{z}'],
    ] as const) {
      const tag = queueHashTag(vhost, queue);
      expect(keys.owner(vhost, queue)).toBe(`j:${tag}:owner`);
      expect(hashedPart(keys.owner(vhost, queue))).toBe(tag.slice(1, -1));
      expect(hashedPart(keys.epoch(vhost, queue))).toBe(tag.slice(1, -1));
    }
    expect(queueHashTag('/', 'orders')).toBe('{%2F/orders}');
  });

  it('give different queues different tags, whatever their names hold', () => {
    const pairs = [
      ['a/b', 'c'],
      ['a', 'b/c'],
      ['a%2Fb', 'c'],
      ['a', '}'],
      ['a', '%7D'],
      ['', 'a/'],
      ['a/', ''],
    ];
    expect(new Set(pairs.map(([v, q]) => queueHashTag(v!, q!))).size).toBe(pairs.length);
  });

  it('keep the node registry in a slot of its own and refuse a prefix with a brace', () => {
    const keys = new ClusterKeys();
    expect(hashedPart(keys.node('n1'))).toBe('cluster');
    expect(hashedPart(keys.nodes)).toBe('cluster');
    expect(() => new ClusterKeys('a{b}:')).toThrow('must not contain');
  });
});
