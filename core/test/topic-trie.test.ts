import { describe, expect, it } from 'vitest';
import { TopicTrie } from '../src/exchanges/topic-trie.js';

function matches(pattern: string, key: string): boolean {
  const t = new TopicTrie<string>();
  t.add(pattern, 'id', pattern);
  const out: string[] = [];
  t.match(key, (v) => out.push(v));
  return out.length === 1;
}

describe('topic trie', () => {
  it.each([
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.c', false],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['#', '', true],
    ['#', 'x.y', true],
    ['#.c', 'c', true],
    ['#.c', 'a.b.c', true],
    ['#.c', 'a.b.d', false],
    ['a.#.c', 'a.c', true],
    ['a.#.c', 'a.x.y.c', true],
    ['*', '', true],
    ['*', 'a.b', false],
    ['*.*', 'a.b', true],
    ['a.b', 'a.b.c', false],
    ['#.#', 'a.b', true],
    ['a.*.#', 'a', false],
    ['a.*.#', 'a.b', true],
  ])('%s ~ %s = %s', (pattern, key, want) => {
    expect(matches(pattern, key)).toBe(want);
  });

  it('reports a value once even when several paths reach it, and forgets removed bindings', () => {
    const t = new TopicTrie<string>();
    t.add('#.#', 'x', 'X');
    t.add('a.#', 'y', 'Y');
    const out: string[] = [];
    t.match('a.b.c', (v) => out.push(v));
    expect(out.sort()).toEqual(['X', 'Y']);
    t.remove('#.#', 'x');
    out.length = 0;
    t.match('a.b.c', (v) => out.push(v));
    expect(out).toEqual(['Y']);
  });

  it('matches 10,000 bindings without visiting each one', () => {
    const t = new TopicTrie<number>();
    for (let i = 0; i < 10_000; i++) t.add(`sensor.${i}.temp`, String(i), i);
    const out: number[] = [];
    t.match('sensor.4242.temp', (v) => out.push(v));
    expect(out).toEqual([4242]);
  });
});
