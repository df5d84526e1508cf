/**
 * An object with `key` as an own enumerable property, for tests that send names such as
 * `__proto__`: a literal `{ __proto__: v }` would set the prototype instead, and spreading or
 * assigning it would do the same.
 */
export function withOwnKey(
  key: string,
  value: unknown,
  rest: Record<string, unknown> = {},
): Record<string, unknown> {
  const o: Record<string, unknown> = { ...rest };
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  return o;
}
