/**
 * The stored-key escape (issue 14) is a bijection that never writes `__proto__`, so what a
 * store packs with msgpackr (which renames a `__proto__` key) comes back as written.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeStoredKeys, unescapeStoredKeys } from '../src/storage/stored-keys.js';

const key = fc.oneof(
  fc.constantFrom('__proto', '__proto_', '__proto__', '__proto___', '__proto____', '_proto__', 'constructor'),
  fc.string({ maxLength: 6 }),
);

/** JSON-like values whose object keys come from `key`, with own `__proto__` keys. */
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant(Buffer.from([1, 2]))),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.uniqueArray(fc.tuple(key, tie('value')), { maxLength: 4, selector: ([k]) => k }).map((pairs) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of pairs)
        Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
  ),
}));

/** Every object key anywhere in `v`. */
function keysOf(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) keysOf(x, out);
  else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v))
    for (const [k, x] of Object.entries(v)) keysOf(x, out.concat(k)).forEach((y) => out.push(y));
  return out;
}

/** Own keys and values as nested arrays: compares what a store keeps, whatever the prototypes. */
function canon(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return ['buffer', v.toString('hex')];
  if (Array.isArray(v)) return ['array', v.map(canon)];
  if (v !== null && typeof v === 'object')
    return ['object', Object.entries(v).map(([k, x]) => [k, canon(x)])];
  return v;
}

describe('stored keys', () => {
  it('unescape(escape(v)) is v, and escape(v) has no key msgpackr renames', () => {
    fc.assert(
      fc.property(value, (v) => {
        const stored = escapeStoredKeys(v);
        expect(keysOf(stored).filter((k) => k === '__proto__' || k === '__proto_')).toEqual([]);
        expect(canon(unescapeStoredKeys(stored))).toEqual(canon(v));
      }),
      { numRuns: 500 },
    );
  });

  it('returns a value without such keys as it is, without a copy', () => {
    const v = { a: [1, { b: 'x' }], c: Buffer.from('z') };
    expect(escapeStoredKeys(v)).toBe(v);
    expect(unescapeStoredKeys(v)).toBe(v);
  });
});
