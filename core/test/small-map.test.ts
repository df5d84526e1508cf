import { describe, expect, it } from 'vitest';
import { SmallMap } from '../src/small-map.js';

describe('SmallMap', () => {
  it('behaves as a Map through one entry, two, and back', () => {
    const m = new SmallMap<string, number>();
    expect([m.size, m.get('a'), m.has('a'), m.delete('a'), [...m.values()]]).toEqual([
      0,
      undefined,
      false,
      false,
      [],
    ]);
    m.set('a', 1).set('a', 2);
    expect([m.size, m.get('a'), m.has('b'), [...m.values()]]).toEqual([1, 2, false, [2]]);
    m.set('b', 3);
    expect([m.size, m.get('a'), m.get('b'), [...m.values()]]).toEqual([2, 2, 3, [2, 3]]);
    expect(m.delete('a')).toBe(true);
    expect([m.size, m.get('a'), m.get('b'), [...m.values()]]).toEqual([1, undefined, 3, [3]]);
    m.clear();
    expect([m.size, m.get('b'), [...m.values()]]).toEqual([0, undefined, []]);
    m.set('c', 4);
    expect(m.delete('x')).toBe(false);
    expect([m.size, m.get('c')]).toEqual([1, 4]);
  });
});
