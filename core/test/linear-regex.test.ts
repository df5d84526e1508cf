/** The matcher for user-supplied patterns: RegExp's answers (with and without flag 'i') without backtracking. */
import { describe, expect, it } from 'vitest';
import { linearRegex, UnsupportedRegex } from '../src/linear-regex.js';

const CASES: [string, string[]][] = [
  ['abc', ['abc', 'xabcx', 'ABC', 'ab', '']],
  ['^q\\.', ['q.1', 'xq.1', 'q1', 'Q.']],
  ['^orders$', ['orders', 'orders2', 'my-orders']],
  ['a|b|^c$', ['a', 'xb', 'c', 'cc', 'd']],
  ['(ab)+c?$', ['abab', 'ababc', 'abx', 'cab']],
  ['^[a-c][^0-9]*\\d{2,3}$', ['a12', 'bxy123', 'c1234', 'd12', 'a1']],
  ['x{3}', ['xx', 'xxx', 'axxxb']],
  ['x{2,}y', ['xxy', 'xy', 'xxxxy']],
  ['[\\w-]+\\s\\S', ['a-b c', 'a-b  ', '---\tz']],
  ['(?:a*)*b', ['aaab', 'aaa', 'b']],
  ['.*', ['', 'anything']],
  ['a.c', ['abc', 'a\nc', 'ac']],
  ['[]a]', [']', 'a', 'b']],
  ['a+?b*?', ['a', 'b']],
  ['\\.', ['.', 'a']],
  ['{', ['{', 'a']],
];

describe('linearRegex', () => {
  it('answers as RegExp(pattern, flags).test does, with and without flag i', () => {
    for (const [pattern, inputs] of CASES) {
      for (const flags of ['i', '']) {
        const ours = linearRegex(pattern, { ignoreCase: flags === 'i' });
        const theirs = new RegExp(pattern, flags);
        for (const s of inputs)
          expect(ours.test(s), `/${pattern}/${flags} on ${JSON.stringify(s)}`).toBe(theirs.test(s));
      }
    }
  });

  it('agrees with RegExp on random patterns and inputs', () => {
    // A seeded generator: the same patterns every run.
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const atom = (d: number): string => {
      const r = rnd(d > 2 ? 6 : 9);
      if (r < 3) return 'ab.'[r]!;
      if (r === 3) return '[ab]';
      if (r === 4) return '[^a]';
      if (r === 5) return 'A';
      return `(${pattern(d + 1)})`;
    };
    const quant = (): string => ['', '', '*', '+', '?', '{1,2}', '{2}'][rnd(7)]!;
    const pattern = (d: number): string => {
      let s = rnd(6) === 0 ? '^' : '';
      const n = 1 + rnd(3);
      for (let i = 0; i < n; i++) s += atom(d) + quant();
      if (d < 3 && rnd(4) === 0) s += '|' + pattern(d + 1);
      return s + (rnd(6) === 0 ? '$' : '');
    };
    let checked = 0;
    for (let p = 0; p < 400; p++) {
      const src = pattern(0);
      const flags = p % 2 === 0 ? 'i' : '';
      const ours = linearRegex(src, { ignoreCase: flags === 'i' });
      const theirs = new RegExp(src, flags);
      for (let k = 0; k < 20; k++) {
        let s = '';
        for (let j = rnd(8); j > 0; j--) s += 'abAB'[rnd(4)];
        expect(ours.test(s), `/${src}/${flags} on ${JSON.stringify(s)}`).toBe(theirs.test(s));
        checked++;
      }
    }
    expect(checked).toBe(8000);
  });

  it('matches catastrophic patterns against long names without backtracking', () => {
    const name = 'a'.repeat(20_000) + '!';
    // RegExp needs about 2^n steps for these; a Thompson NFA needs n x states.
    expect(linearRegex('(a+)+$').test(name)).toBe(false);
    expect(linearRegex('^(a|aa)*$').test(name)).toBe(false);
    expect(linearRegex('(.*a){12}b').test(name)).toBe(false);
    expect(linearRegex('(a+)+!').test(name)).toBe(true);
  });

  it('refuses what needs backtracking, and oversized patterns', () => {
    for (const p of [
      '(a)\\1',
      '(?=a)',
      '(?!a)b',
      '(?<n>a)',
      '\\bword',
      'a{1001}',
      '(',
      '[a',
      '*a',
      'x'.repeat(1001),
    ])
      expect(() => linearRegex(p), p).toThrow(UnsupportedRegex);
    expect(() => linearRegex('(((a{1000}){1000}))')).toThrow(/too complex/);
  });
});
