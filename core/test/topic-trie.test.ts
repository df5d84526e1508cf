import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { seededRandom } from '@junction/testkit';
import { TopicTrie } from '../src/exchanges/topic-trie.js';

function matches(pattern: string, key: string): boolean {
  const t = new TopicTrie<string>();
  t.add(pattern, 'id', pattern);
  const out: string[] = [];
  t.match(key, { add: (v) => out.push(v) });
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
    t.match('a.b.c', { add: (v) => out.push(v) });
    expect(out.sort()).toEqual(['X', 'Y']);
    t.remove('#.#', 'x');
    out.length = 0;
    t.match('a.b.c', { add: (v) => out.push(v) });
    expect(out).toEqual(['Y']);
  });

  it('matches 10,000 bindings without visiting each one', () => {
    const t = new TopicTrie<number>();
    for (let i = 0; i < 10_000; i++) t.add(`sensor.${i}.temp`, String(i), i);
    const out: number[] = [];
    t.match('sensor.4242.temp', { add: (v) => out.push(v) });
    expect(out).toEqual([4242]);
  });
});

/** The definition, walked naively (exponential in the `#` count): the reference for small inputs. */
function reference(pattern: string[], key: string[]): boolean {
  if (pattern.length === 0) return key.length === 0;
  const [p, ...rest] = pattern;
  if (p === '#') {
    for (let i = 0; i <= key.length; i++) if (reference(rest, key.slice(i))) return true;
    return false;
  }
  if (key.length === 0) return false;
  return (p === '*' || p === key[0]) && reference(rest, key.slice(1));
}

describe('topic trie: bounded work', () => {
  it('matches a 30-word key against a 16-`#` binding in at most nodes x words steps', () => {
    const t = new TopicTrie<string>();
    const pattern = Array.from({ length: 16 }, () => '#').join('.');
    t.add(pattern, 'h', 'H');
    t.add(`${pattern}.z`, 'z', 'Z');
    const nodes = 1 + 16 + 1;
    const key = Array.from({ length: 30 }, (_, i) => `w${i}`).join('.');
    const out: string[] = [];
    const steps = t.match(key, { add: (v) => out.push(v) });
    expect(out).toEqual(['H']);
    expect(steps).toBeLessThanOrEqual(nodes * 31);
    out.length = 0;
    expect(t.match(`${key}.z`, { add: (v) => out.push(v) })).toBeLessThanOrEqual(nodes * 32);
    expect(out.sort()).toEqual(['H', 'Z']);
  });

  it('agrees with the reference on random wildcard-heavy bindings and keys, within the step bound', () => {
    const word = fc.constantFrom('a', 'b', 'c');
    const patternWord = fc.constantFrom('a', 'b', '*', '#', '#', '#');
    fc.assert(
      fc.property(
        fc.array(fc.array(patternWord, { minLength: 1, maxLength: 9 }), { minLength: 1, maxLength: 8 }),
        fc.array(word, { minLength: 1, maxLength: 10 }),
        (patterns, key) => {
          const t = new TopicTrie<number>();
          patterns.forEach((p, i) => t.add(p.join('.'), String(i), i));
          const got = new Set<number>();
          const steps = t.match(key.join('.'), {
            add: (v) => {
              expect(got.has(v)).toBe(false);
              got.add(v);
            },
          });
          const nodes = 1 + patterns.reduce((n, p) => n + p.length, 0);
          expect(steps).toBeLessThanOrEqual(nodes * (key.length + 1));
          const want = new Set<number>();
          patterns.forEach((p, i) => {
            if (reference(p, key)) want.add(i);
          });
          expect([...got].sort()).toEqual([...want].sort());
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('topic trie: many bindings in one trie, seeded', () => {
  it('finds exactly the bindings the reference matches, once each, for keys with empty and wildcard words', () => {
    const seed = 0x7e1e;
    const random = seededRandom(seed);
    const pick = <W>(from: readonly W[]): W => from[Math.floor(random() * from.length)]!;
    // '' makes empty words (`a..b`, a leading or trailing dot); '*' and '#' in a key are literals.
    const keyWords = ['a', 'b', 'c', '', '*', '#', 'a-long-word-past-v8s-sliced-string-threshold'];
    const patternWords = [...keyWords, '*', '#', '#'];
    const words = (from: readonly string[], max: number) =>
      Array.from({ length: 1 + Math.floor(random() * max) }, () => pick(from));
    for (let run = 0; run < 300; run++) {
      const t = new TopicTrie<number>();
      const patterns = Array.from({ length: 1 + Math.floor(random() * 40) }, () => words(patternWords, 6));
      patterns.forEach((p, i) => t.add(p.join('.'), String(i), i));
      // Remove some, so matching also runs over pruned branches.
      const removed = new Set<number>();
      for (let i = 0; i < patterns.length; i += 1 + Math.floor(random() * 5)) {
        t.remove(patterns[i]!.join('.'), String(i));
        removed.add(i);
      }
      const nodes = 1 + patterns.reduce((n, p) => n + p.length, 0);
      for (let k = 0; k < 20; k++) {
        const key = words(keyWords, 8);
        const got: number[] = [];
        const steps = t.match(key.join('.'), { add: (v) => got.push(v) });
        const want = patterns.flatMap((p, i) => (!removed.has(i) && reference(p, key) ? [i] : []));
        const context = `seed ${seed}, run ${run}: key ${JSON.stringify(key.join('.'))}`;
        expect(
          [...got].sort((x, y) => x - y),
          context,
        ).toEqual(want);
        expect(steps, context).toBeLessThanOrEqual(nodes * (key.length + 1));
      }
    }
  });

  it('gives a sink that matches on the same trie again lists of its own', () => {
    const t = new TopicTrie<string>();
    t.add('a.#', 'x', 'X');
    t.add('a.*', 'y', 'Y');
    t.add('q.r', 'q', 'Q');
    t.add('q.*', 'w', 'W');
    const inner: string[] = [];
    const outer: string[] = [];
    // Both keys have two words: the inner match's last list is the one the outer is reading.
    t.match('a.b', {
      add: (v) => {
        outer.push(v);
        if (outer.length === 1) t.match('q.r', { add: (w) => inner.push(w) });
      },
    });
    expect(outer.sort()).toEqual(['X', 'Y']);
    expect(inner.sort()).toEqual(['Q', 'W']);
  });
});
