/**
 * Runtime values of selector expressions and the JMS 1.1 §3.8.1.1 rules for comparing
 * them. Every function here is total: evaluating a selector never throws, whatever a
 * message carries.
 *
 * Numbers are JS doubles; exact integers outside ±2^53 stay bigint so Java long
 * literals and AMQP long-long headers keep their precision (JS compares bigint with
 * number exactly, so comparisons need no promotion code).
 */

/** A property value of a type JMS selectors cannot compare (bytes, arrays, tables): never NULL, never equal to anything. */
export const OPAQUE: unique symbol = Symbol('junction.selector.opaque');

/** null is SQL NULL, i.e. UNKNOWN when used as a condition. */
export type Value = string | number | bigint | boolean | null | typeof OPAQUE;
export type Num = number | bigint;
/** Three-valued logic: null is UNKNOWN. */
export type Tri = boolean | null;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/** Keeps a bigint only where a double would lose digits. */
export function fromBigInt(b: bigint): Num {
  return b >= MIN_SAFE && b <= MAX_SAFE ? Number(b) : b;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * A string header read as a number, the way ActiveMQ's STOMP transport does: it prefixes
 * every STOMP selector with `convert_string_expressions:`, so a string property meets a
 * number as Java's Long/Double.valueOf would read it. Accepted: optional sign, digits,
 * optional fraction, optional exponent; nothing else (no spaces, no hex), else undefined.
 */
export function parseNumeric(s: string): Num | undefined {
  const n = s.length;
  let i = 0;
  if (n === 0) return undefined;
  const first = s.charCodeAt(0);
  if (first === 43 /* + */ || first === 45 /* - */) i++;
  let digits = 0;
  let integral = true;
  while (i < n && isDigit(s.charCodeAt(i))) {
    i++;
    digits++;
  }
  if (i < n && s.charCodeAt(i) === 46 /* . */) {
    integral = false;
    i++;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return undefined;
  if (i < n && (s.charCodeAt(i) | 32) === 101 /* e or E */) {
    integral = false;
    i++;
    if (i < n && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45)) i++;
    let exp = 0;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      exp++;
    }
    if (exp === 0) return undefined;
  }
  if (i !== n) return undefined;
  const v = Number(s);
  if (!integral || Number.isSafeInteger(v)) return v;
  return fromBigInt(BigInt(s));
}

/** 'true' / 'false' in any case, as Boolean.valueOf reads a STOMP header; other strings are not booleans. */
export function parseBoolean(s: string): boolean | undefined {
  if (s.length === 4 && s.toLowerCase() === 'true') return true;
  if (s.length === 5 && s.toLowerCase() === 'false') return false;
  return undefined;
}

export function toNumeric(v: Value): Num | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (typeof v === 'string') return parseNumeric(v);
  return undefined;
}

/** A value in a condition position (a bare boolean property): UNKNOWN unless it is a boolean. */
export function toTri(v: Value): Tri {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return parseBoolean(v) ?? null;
  return null;
}

function numEqual(a: Num, b: Num): boolean {
  if (typeof a === typeof b) return a === b;
  const big = (typeof a === 'bigint' ? a : b) as bigint;
  const num = (typeof a === 'number' ? a : b) as number;
  return Number.isInteger(num) && BigInt(num) === big;
}

/**
 * Equality of two values: true/false, null when either is NULL (UNKNOWN), undefined when
 * their types cannot be compared. JMS 1.1 §3.8.1.1: exact and approximate numbers compare
 * by value; "if the comparison of non-like type values is attempted, the value of the
 * operation is false". A string meets a number or a boolean through parseNumeric /
 * parseBoolean (ActiveMQ's STOMP conversion); when that fails the types are unlike.
 */
function equality(a: Value, b: Value): boolean | null | undefined {
  if (a === null || b === null) return null;
  if (a === OPAQUE || b === OPAQUE) return undefined;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === tb) return a === b;
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint'))
    return numEqual(a as Num, b as Num);
  if (ta === 'string') return convertedEquality(a as string, b);
  if (tb === 'string') return convertedEquality(b as string, a);
  return undefined;
}

function convertedEquality(s: string, other: Value): boolean | undefined {
  if (typeof other === 'boolean') {
    const b = parseBoolean(s);
    return b === undefined ? undefined : b === other;
  }
  const n = parseNumeric(s);
  return n === undefined ? undefined : numEqual(n, other as Num);
}

/** `=`: unlike types are FALSE. */
export function equal(a: Value, b: Value): Tri {
  const r = equality(a, b);
  return r === undefined ? false : r;
}

/**
 * `<>`: unlike types are FALSE here too (the JMS rule is about the comparison, whichever
 * operator), so `a <> b` is not always `NOT (a = b)`. ActiveMQ builds `<>` as NOT `=` and
 * answers TRUE for unlike types; this follows the specification.
 */
export function notEqual(a: Value, b: Value): Tri {
  const r = equality(a, b);
  return r === undefined ? false : r === null ? null : !r;
}

/**
 * Sign of a - b for `<`, `<=`, `>`, `>=` and BETWEEN: null when either is NULL (UNKNOWN),
 * NaN when they are not both numbers (JMS 1.1: ordering is defined for numbers only, and
 * an unlike-type comparison is FALSE; every relation on NaN is false).
 */
export function order(a: Value, b: Value): number | null {
  if (a === null || b === null) return null;
  const x = toNumeric(a);
  const y = toNumeric(b);
  if (x === undefined || y === undefined) return Number.NaN;
  return x < y ? -1 : x > y ? 1 : x == y ? 0 : Number.NaN;
}

/** `%` (remainder) is an ActiveMQ extension to JMS 1.1's + - * /. */
export type ArithOp = '+' | '-' | '*' | '/' | '%';

function exact(op: '+' | '-' | '*', x: bigint, y: bigint): Num {
  return fromBigInt(op === '+' ? x + y : op === '-' ? x - y : x * y);
}

/**
 * Arithmetic: NULL in gives NULL out, and so does a non-number (the brief's "arithmetic on
 * non-numbers is UNKNOWN"; ActiveMQ throws, which also leaves the message unselected).
 * `/` and `%` are always floating point, as in ActiveMQ. Integer results that leave the double's
 * exact range are redone in bigint rather than rounded.
 */
export function arith(op: ArithOp, a: Value, b: Value): Value {
  const x = toNumeric(a);
  const y = toNumeric(b);
  if (x === undefined || y === undefined) return null;
  if (op === '/') return Number(x) / Number(y);
  if (op === '%') return Number(x) % Number(y);
  if (typeof x === 'number' && typeof y === 'number') {
    const r = op === '+' ? x + y : op === '-' ? x - y : x * y;
    if (Number.isSafeInteger(r) || !Number.isSafeInteger(x) || !Number.isSafeInteger(y)) return r;
    return exact(op, BigInt(x), BigInt(y));
  }
  // At least one bigint: stay exact unless the other side is a fraction.
  if ((typeof x === 'number' && !Number.isInteger(x)) || (typeof y === 'number' && !Number.isInteger(y))) {
    const fx = Number(x);
    const fy = Number(y);
    return op === '+' ? fx + fy : op === '-' ? fx - fy : fx * fy;
  }
  return exact(op, BigInt(x), BigInt(y));
}

export function negate(a: Value): Value {
  const x = toNumeric(a);
  if (x === undefined) return null;
  return typeof x === 'bigint' ? fromBigInt(-x) : -x;
}

export function plus(a: Value): Value {
  const x = toNumeric(a);
  return x === undefined ? null : x;
}

export function and3(a: Tri, b: Tri): Tri {
  if (a === false || b === false) return false;
  return a === null || b === null ? null : true;
}

export function or3(a: Tri, b: Tri): Tri {
  if (a === true || b === true) return true;
  return a === null || b === null ? null : false;
}
