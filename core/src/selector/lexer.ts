/**
 * Tokens of JMS 1.1 §3.8.1.1 message selectors, as ActiveMQ's grammar reads them:
 * case-insensitive keywords, Java identifiers, '' -escaped string literals, Java integer
 * literals (decimal, octal, hex, optional L suffix), approximate literals, and SQL
 * comments (`-- to end of line`, block comments), which ActiveMQ's grammar skips too.
 */
import { selectorError } from './error.js';
import { fromBigInt, type Num } from './values.js';

export const KEYWORDS = [
  'NOT',
  'AND',
  'OR',
  'BETWEEN',
  'LIKE',
  'IN',
  'IS',
  'ESCAPE',
  'NULL',
  'TRUE',
  'FALSE',
] as const;
export type Keyword = (typeof KEYWORDS)[number];
const keywordSet: ReadonlySet<string> = new Set(KEYWORDS);

export type Operator = '=' | '<>' | '<' | '>' | '<=' | '>=' | '+' | '-' | '*' | '/' | '%' | '(' | ')' | ',';

export type Token =
  | { readonly kind: 'ident'; readonly pos: number; readonly name: string }
  | { readonly kind: 'keyword'; readonly pos: number; readonly keyword: Keyword }
  | { readonly kind: 'string'; readonly pos: number; readonly value: string }
  | { readonly kind: 'number'; readonly pos: number; readonly value: Num }
  | { readonly kind: 'op'; readonly pos: number; readonly op: Operator }
  | { readonly kind: 'eof'; readonly pos: number };

// Java's Character.isJavaIdentifierStart / isJavaIdentifierPart, by Unicode category.
const ID_START = /^[\p{L}\p{Nl}\p{Sc}\p{Pc}]$/u;
const ID_PART = /^[\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}]$/u;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isHexDigit = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c);

function codePointAt(text: string, i: number): string | undefined {
  const cp = text.codePointAt(i);
  return cp === undefined ? undefined : String.fromCodePoint(cp);
}

/** Human-readable description of a token for error messages. */
export function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of input';
    case 'ident':
      return `identifier ${t.name}`;
    case 'keyword':
      return t.keyword;
    case 'string':
      return `string '${t.value.length > 20 ? `${t.value.slice(0, 20)}...` : t.value}'`;
    case 'number':
      return `number ${String(t.value)}`;
    case 'op':
      return `'${t.op}'`;
  }
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (c === '-' && text[i + 1] === '-') {
      const eol = text.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw selectorError(i, 'unterminated comment');
      i = end + 2;
      continue;
    }
    const start = i;
    if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf("'", i);
        if (q === -1) throw selectorError(start, 'unterminated string literal');
        value += text.slice(i, q);
        // JMS 1.1 §3.8.1.1: a single quote inside a string literal is written as two.
        if (text[q + 1] === "'") {
          value += "'";
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      tokens.push({ kind: 'string', pos: start, value });
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(text[i + 1]))) {
      const [value, end] = scanNumber(text, start);
      const next = codePointAt(text, end);
      if (next !== undefined && (ID_PART.test(next) || next === '.'))
        throw selectorError(start, 'malformed number');
      tokens.push({ kind: 'number', pos: start, value });
      i = end;
      continue;
    }
    const cp = codePointAt(text, i) as string;
    if (ID_START.test(cp)) {
      i += cp.length;
      for (;;) {
        const p = codePointAt(text, i);
        if (p === undefined || !ID_PART.test(p)) break;
        i += p.length;
      }
      const word = text.slice(start, i);
      const upper = word.toUpperCase();
      // Keywords are case-insensitive; identifiers are case-sensitive (JMS 1.1 §3.8.1.1).
      if (keywordSet.has(upper)) tokens.push({ kind: 'keyword', pos: start, keyword: upper as Keyword });
      else tokens.push({ kind: 'ident', pos: start, name: word });
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '<>' || two === '<=' || two === '>=') {
      tokens.push({ kind: 'op', pos: start, op: two });
      i += 2;
      continue;
    }
    if (two === '!=') throw selectorError(start, "unexpected '!=' (SQL writes not-equal as '<>')");
    if ('=<>+-*/%(),'.includes(c)) {
      tokens.push({ kind: 'op', pos: start, op: c as Operator });
      i++;
      continue;
    }
    throw selectorError(start, `unexpected character ${JSON.stringify(cp)}`);
  }
  tokens.push({ kind: 'eof', pos: n });
  return tokens;
}

/** Reads a numeric literal at `start`; returns its value and the index after it. */
function scanNumber(text: string, start: number): [Num, number] {
  let i = start;
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X')) {
    i += 2;
    const digitsStart = i;
    while (isHexDigit(text[i])) i++;
    if (i === digitsStart) throw selectorError(start, 'malformed hexadecimal literal');
    const value = BigInt(`0x${text.slice(digitsStart, i)}`);
    if (text[i] === 'l' || text[i] === 'L') i++;
    return [fromBigInt(value), i];
  }
  while (isDigit(text[i])) i++;
  let approximate = false;
  if (text[i] === '.') {
    approximate = true;
    i++;
    while (isDigit(text[i])) i++;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    approximate = true;
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    const expStart = i;
    while (isDigit(text[i])) i++;
    if (i === expStart) throw selectorError(start, 'malformed exponent in numeric literal');
  }
  if (approximate) {
    const value = Number(text.slice(start, i));
    // Java's float/double suffixes.
    if (text[i] === 'f' || text[i] === 'F' || text[i] === 'd' || text[i] === 'D') i++;
    return [value, i];
  }
  const digits = text.slice(start, i);
  if (text[i] === 'l' || text[i] === 'L') i++;
  if (digits.length > 1 && digits[0] === '0') {
    // A Java integer literal with a leading zero is octal.
    if (!/^[0-7]+$/.test(digits)) throw selectorError(start, 'malformed octal literal');
    return [fromBigInt(BigInt(`0o${digits.slice(1)}`)), i];
  }
  return [fromBigInt(BigInt(digits)), i];
}
