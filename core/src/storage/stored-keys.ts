/**
 * Keys a client chose, through msgpack and back: msgpackr (the encoder of both durable
 * stores) reads an object key `__proto__` back as `__proto_`, its guard against prototype
 * pollution, so a queue argument, a header or a subscription named `__proto__` came back
 * renamed after a restart. Stores pass what they pack through escapeStoredKeys() and what
 * they unpack through unescapeStoredKeys(): every key of the family `__proto` + one or more
 * `_` gains two `_` when written and loses them when read, a bijection whose written keys
 * all have three `_` or more (never `__proto__` itself), so `__proto_`, `__proto__` and
 * `__proto___` all come back as written. (Stored before this, `__proto__` reads `__proto_`.)
 * Values without such a key are returned as they are (no copy on the hot path).
 */

/** `__proto_`, `__proto__`, `__proto___`, ... */
const inFamily = (k: string): boolean => k.length >= 8 && k.startsWith('__proto_') && /^__proto_+$/.test(k);

/** A plain object or array, the only values msgpack maps keys of (Buffers and the like are leaves). */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function mapKeys<T>(value: T, rename: (k: string) => string | undefined): T {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const m = mapKeys(v, rename);
      if (m !== v) (out ??= value.slice())[i] = m;
    }
    return (out ?? value) as T;
  }
  if (!isPlainObject(value)) return value;
  // Copied only from the first key that changes (the common case allocates nothing more).
  const keys = Object.keys(value);
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = value[k];
    const m = mapKeys(v, rename);
    const k2 = rename(k) ?? k;
    if (!out && (m !== v || k2 !== k)) {
      out = Object.getPrototypeOf(value) === null ? (Object.create(null) as Record<string, unknown>) : {};
      for (let j = 0; j < i; j++) define(out, keys[j]!, value[keys[j]!]);
    }
    if (out) define(out, k2, m);
  }
  return (out ?? value) as T;
}

/** defineProperty: assigning `__proto__` on a plain object would set its prototype. */
function define(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Before msgpack: `__proto` + n `_` (n >= 1) becomes `__proto` + (n + 2) `_`. */
export function escapeStoredKeys<T>(value: T): T {
  return mapKeys(value, (k) => (inFamily(k) ? `${k}__` : undefined));
}

/** After msgpack: `__proto` + n `_` (n >= 3) becomes `__proto` + (n - 2) `_`. */
export function unescapeStoredKeys<T>(value: T): T {
  return mapKeys(value, (k) => (inFamily(k) && k.length >= 10 ? k.slice(0, -2) : undefined));
}
