import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@junction/testkit';
import { TopicKeyIndex } from '../src/exchanges/topic-key-index.js';
import { TopicTrie } from '../src/exchanges/topic-trie.js';

/** Reference: does the pattern match the key, by the routing matcher. */
function routes(pattern: string, key: string): boolean {
  const t = new TopicTrie<true>();
  t.add(pattern, 'p', true);
  let hit = false;
  t.match(key, { add: () => (hit = true) });
  return hit;
}

describe('topic key index (retained lookup)', () => {
  it('finds keys by pattern and forgets deleted ones', () => {
    const ix = new TopicKeyIndex<number>();
    ix.set('a.b.c', 1);
    ix.set('a.x', 2);
    ix.set('b', 3);
    const got = (p: string) => {
      const out: string[] = [];
      ix.match(p, (k) => out.push(k));
      return out.sort();
    };
    expect(got('a.*.c')).toEqual(['a.b.c']);
    expect(got('a.#')).toEqual(['a.b.c', 'a.x']);
    expect(got('#')).toEqual(['a.b.c', 'a.x', 'b']);
    expect(got('b')).toEqual(['b']);
    expect(ix.delete('a.x')).toBe(true);
    expect(got('a.#')).toEqual(['a.b.c']);
    expect(ix.size).toBe(2);
  });

  it('looks 2,000 wildcard filters up over 5,000 keys in bounded steps each', () => {
    const ix = new TopicKeyIndex<number>();
    for (let i = 0; i < 5000; i++) ix.set(`site${i % 50}.dev${i}.temp`, i);
    let worst = 0;
    for (let f = 0; f < 2000; f++) {
      let n = 0;
      const steps = ix.match(`site${f % 50}.dev${f}.*`, () => n++);
      worst = Math.max(worst, steps);
    }
    // Each lookup touches a handful of nodes, not 5,000 keys.
    expect(worst).toBeLessThan(100);
  });

  it('agrees with the routing matcher on random keys and wildcard-heavy patterns, within the step bound', () => {
    const word = fc.constantFrom('a', 'b', 'c');
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.array(word, { minLength: 1, maxLength: 6 }).map((w) => w.join('.')),
          {
            minLength: 1,
            maxLength: 30,
          },
        ),
        fc.array(fc.constantFrom('a', 'b', '*', '#', '#'), { minLength: 1, maxLength: 8 }),
        (keys, pattern) => {
          const ix = new TopicKeyIndex<string>();
          for (const k of keys) ix.set(k, k);
          const got: string[] = [];
          const steps = ix.match(pattern.join('.'), (k, v) => {
            expect(v).toBe(k);
            got.push(k);
          });
          const nodes = 1 + keys.reduce((n, k) => n + k.split('.').length, 0);
          expect(steps).toBeLessThanOrEqual(2 * nodes * (pattern.length + 1));
          expect(got.sort()).toEqual(keys.filter((k) => routes(pattern.join('.'), k)).sort());
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('topic key index, seeded', () => {
  it('agrees with the routing matcher on keys with empty and literal wildcard words, after deletes', () => {
    const seed = 0x1d3;
    const random = seededRandom(seed);
    const pick = <W>(from: readonly W[]): W => from[Math.floor(random() * from.length)]!;
    const keyWords = ['a', 'b', '', '*', '#'];
    const words = (from: readonly string[], max: number) =>
      Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(from)).join('.');
    for (let run = 0; run < 200; run++) {
      const ix = new TopicKeyIndex<string>();
      const keys = [
        ...new Set(Array.from({ length: 1 + Math.floor(random() * 30) }, () => words(keyWords, 5))),
      ];
      for (const k of keys) ix.set(k, k);
      const kept = keys.filter((k, i) => i % 4 !== 0 || !ix.delete(k));
      for (let p = 0; p < 10; p++) {
        const pattern = words([...keyWords, '*', '#'], 6);
        const got: string[] = [];
        ix.match(pattern, (k) => got.push(k));
        const want = kept.filter((k) => routes(pattern, k));
        expect(got.sort(), `seed ${seed}, run ${run}: pattern ${JSON.stringify(pattern)}`).toEqual(
          want.sort(),
        );
      }
    }
  });

  it('gives an `out` that looks up on the same index again lists of its own', () => {
    const ix = new TopicKeyIndex<number>();
    for (const k of ['a.x', 'a.y', 'q.r', 'q.s']) ix.set(k, 0);
    const outer: string[] = [];
    const inner: string[] = [];
    ix.match('a.*', (k) => {
      outer.push(k);
      if (outer.length === 1) ix.match('q.*', (j) => inner.push(j));
    });
    expect(outer.sort()).toEqual(['a.x', 'a.y']);
    expect(inner.sort()).toEqual(['q.r', 'q.s']);
  });
});
