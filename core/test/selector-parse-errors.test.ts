import { describe, expect, it } from 'vitest';
import { BrokerError } from '../src/errors.js';
import { createMessage } from '../src/message.js';
import { compileSelector, MAX_SELECTOR_DEPTH, MAX_SELECTOR_LENGTH } from '../src/selector/index.js';

function compileError(text: string): BrokerError {
  try {
    compileSelector(text);
  } catch (e) {
    expect(e).toBeInstanceOf(BrokerError);
    return e as BrokerError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe('selector parse errors', () => {
  it('are PRECONDITION_FAILED BrokerErrors that name the position and the problem', () => {
    const e = compileError('(a = 1');
    expect(e.code).toBe('PRECONDITION_FAILED');
    expect(e.replyCode).toBe(406);
    expect(e.message).toBe("invalid selector at 6: expected ')', found end of input");
  });

  it.each([
    // syntax
    ['(a = 1', 6, "expected ')', found end of input"],
    ['(a = 1 OR (b = 2)', 17, "expected ')'"],
    ['a = 1)', 5, "unexpected ')'"],
    ['a = ', 4, 'expected an expression, found end of input'],
    ['a == 1', 3, "expected an expression, found '='"],
    ['a != 1', 2, "'<>'"],
    ["a = 'abc", 4, 'unterminated string literal'],
    ["a = 'it''s", 4, 'unterminated string literal'],
    ['a = 1 b', 6, 'unexpected identifier b'],
    ['AND a = 1', 0, 'expected an expression, found AND'],
    ['a > 1 AND', 9, 'expected an expression, found end of input'],
    ['NOT', 3, 'expected an expression, found end of input'],
    ['a = 1 = 2', 6, "unexpected '='"],
    ['a # 1', 2, 'unexpected character "#"'],
    ['a.b = 1', 1, 'unexpected character "."'],
    ['/* open', 0, 'unterminated comment'],
    ['IN = 1', 0, 'expected an expression, found IN'],
    ['null = 1', 0, 'NULL cannot be compared'],
    // numbers
    ['a = 0x', 4, 'malformed hexadecimal literal'],
    ['a = 1e', 4, 'malformed exponent'],
    ['a = 1e+', 4, 'malformed exponent'],
    ['a = 09', 4, 'malformed octal literal'],
    ['a = 12abc', 4, 'malformed number'],
    ['a = 1.2.3', 4, 'malformed number'],
    // BETWEEN, IN, LIKE, IS
    ['a BETWEEN 1', 11, 'expected AND, found end of input'],
    ['a BETWEEN 1 OR 2', 12, 'expected AND, found OR'],
    ['a IN ()', 6, 'expected a string literal in the IN list'],
    ['a IN (1, 2)', 6, 'expected a string literal in the IN list, found number 1'],
    ["a IN ('x', 2)", 11, 'expected a string literal in the IN list, found number 2'],
    ["a IN ('x' 'y')", 10, "expected ')'"],
    ["a IN 'x'", 5, "expected '('"],
    ['a LIKE 5', 7, 'expected a string literal after LIKE'],
    ['a LIKE b', 7, 'expected a string literal after LIKE, found identifier b'],
    ["a LIKE 'x' ESCAPE", 17, 'expected a string literal after ESCAPE'],
    ["a LIKE 'x' ESCAPE 'ab'", 18, 'ESCAPE needs exactly one character'],
    ["a LIKE 'x' ESCAPE ''", 18, 'ESCAPE needs exactly one character'],
    ['a IS 5', 5, 'expected NULL, found number 5'],
    ['a IS NOT 5', 9, 'expected NULL'],
    ['a NOT 5', 2, 'expected BETWEEN, IN or LIKE after NOT'],
    ['a NOT IS NULL', 2, 'expected BETWEEN, IN or LIKE after NOT, found IS'],
    // types known when the selector is compiled
    ['a = NULL', 4, "NULL cannot be compared with '='; use IS NULL"],
    ['a <> NULL', 5, 'NULL cannot be compared'],
    ['a > NULL', 4, 'NULL cannot be compared'],
    ['a BETWEEN NULL AND 1', 10, 'NULL cannot be compared'],
    ["a > 'x'", 4, "'>' needs a number, found a string"],
    ["'x' <= a", 0, "'<=' needs a number, found a string"],
    ['a < TRUE', 4, "'<' needs a number, found a boolean"],
    ['(a = 1) > 0', 1, "'>' needs a number, found a boolean"],
    ['TRUE = 1', 7, 'cannot compare a boolean with a number'],
    ["'x' <> (a > 1)", 8, 'cannot compare a string with a boolean'],
    ["a + 'x' = 1", 4, "'+' needs a number, found a string"],
    ['a * TRUE = 1', 4, "'*' needs a number, found a boolean"],
    ["-'x' = 1", 1, "unary '-' needs a number, found a string"],
    ["a BETWEEN 'a' AND 'b'", 10, 'BETWEEN needs a number, found a string'],
    ["5 LIKE 'a'", 0, 'LIKE needs a string, found a number'],
    ["TRUE IN ('a')", 0, 'IN needs a string, found a boolean'],
    ["a + 1 IN ('a')", 0, 'IN needs a string, found a number'],
    // not a condition
    ['5', 0, 'expected a condition, found a number'],
    ["'abc'", 0, 'expected a condition, found a string'],
    ['a + 1', 0, 'expected a condition, found a number'],
    ['a AND 5', 6, 'expected a condition, found a number'],
    ["NOT 'x'", 4, 'expected a condition, found a string'],
  ] as const)('%j fails at %i: %s', (text, position, problem) => {
    const e = compileError(text);
    expect(e.message.startsWith(`invalid selector at ${position}: `)).toBe(true);
    expect(e.message).toContain(problem);
  });
});

describe('selector limits', () => {
  const m = createMessage('', 'k', Buffer.alloc(0), { headers: { a: 1, t: true } });

  it(`accepts ${MAX_SELECTOR_LENGTH} bytes and rejects one more`, () => {
    const base = 'a = 1';
    const fits = base + ' '.repeat(MAX_SELECTOR_LENGTH - base.length);
    expect(compileSelector(fits)(m)).toBe(true);
    expect(compileError(`${fits} `).message).toBe(
      `invalid selector at 0: selector longer than ${MAX_SELECTOR_LENGTH} bytes`,
    );
  });

  it('counts the length in UTF-8 bytes', () => {
    // "s = '" + 2045 two-byte characters + "'" is 4096 bytes but only 2051 characters.
    const fits = `s = '${'é'.repeat(2045)}'`;
    expect(Buffer.byteLength(fits)).toBe(MAX_SELECTOR_LENGTH);
    expect(() => compileSelector(fits)).not.toThrow();
    expect(compileError(`s = '${'é'.repeat(2046)}'`).message).toContain('selector longer than');
  });

  it(`accepts ${MAX_SELECTOR_DEPTH} nested parentheses and rejects one more`, () => {
    const nest = (n: number): string => `${'('.repeat(n)}a = 1${')'.repeat(n)}`;
    expect(compileSelector(nest(MAX_SELECTOR_DEPTH))(m)).toBe(true);
    expect(compileError(nest(MAX_SELECTOR_DEPTH + 1)).message).toBe(
      `invalid selector at ${MAX_SELECTOR_DEPTH}: expression nested deeper than ${MAX_SELECTOR_DEPTH} levels`,
    );
  });

  it('counts NOT and unary signs as nesting', () => {
    expect(compileSelector(`${'NOT '.repeat(MAX_SELECTOR_DEPTH)}t`)(m)).toBe(true); // an even number of NOTs
    expect(compileError(`${'NOT '.repeat(MAX_SELECTOR_DEPTH + 1)}t`).message).toContain('nested deeper than');
    expect(compileSelector(`${'- '.repeat(MAX_SELECTOR_DEPTH)}a = 1`)(m)).toBe(true);
    expect(compileError(`${'- '.repeat(MAX_SELECTOR_DEPTH + 1)}a = 1`).message).toContain(
      'nested deeper than',
    );
    expect(compileError(`${'(NOT '.repeat(40)}t${')'.repeat(40)}`).message).toContain('nested deeper than');
  });

  it('a hostile selector cannot exhaust the stack, whatever shape it takes within the length limit', () => {
    const hostile = [
      '('.repeat(MAX_SELECTOR_LENGTH),
      'NOT '.repeat(MAX_SELECTOR_LENGTH / 4),
      // '- ' rather than '--', which starts a comment.
      '- '.repeat((MAX_SELECTOR_LENGTH - 5) / 2) + 'a = 1',
      '+'.repeat(MAX_SELECTOR_LENGTH - 5) + 'a = 1',
    ];
    for (const text of hostile) expect(compileError(text).message).toContain('nested deeper than');
  });

  it('long flat chains are not nesting: they compile and evaluate', () => {
    const ands = Array.from({ length: 400 }, () => 'a = 1').join(' AND ');
    expect(ands.length).toBeLessThanOrEqual(MAX_SELECTOR_LENGTH);
    expect(compileSelector(ands)(m)).toBe(true);
    const sum = `${Array.from({ length: 1000 }, () => 'a').join('+')} = 1000`;
    expect(sum.length).toBeLessThanOrEqual(MAX_SELECTOR_LENGTH);
    expect(compileSelector(sum)(m)).toBe(true);
    const ors = Array.from({ length: 300 }, (_, i) => `a = ${i + 2}`).join(' OR ');
    expect(ors.length).toBeLessThanOrEqual(MAX_SELECTOR_LENGTH);
    expect(compileSelector(ors)(m)).toBe(false);
  });
});
