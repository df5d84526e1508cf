/**
 * Recursive-descent parser for JMS 1.1 §3.8.1.1 selectors. Precedence, loosest first:
 * OR < AND < NOT < comparison (= <> < > <= >=, [NOT] BETWEEN/IN/LIKE, IS [NOT] NULL)
 * < additive (+ -) < multiplicative (* / and ActiveMQ's %) < unary (+ -).
 *
 * AND, OR and same-level arithmetic chains become one n-ary node, so only real nesting
 * (parentheses, NOT, unary signs) deepens the tree; that nesting is capped, so neither
 * this parser nor the closures compiled from its tree can exhaust the stack.
 */
import { selectorError } from './error.js';
import { describe, tokenize, type Keyword, type Operator, type Token } from './lexer.js';
import type { ArithOp, Num } from './values.js';

export type CompareOp = '=' | '<>' | '<' | '>' | '<=' | '>=';

export type Node =
  | { readonly type: 'literal'; readonly pos: number; readonly value: string | Num | boolean | null }
  | { readonly type: 'ident'; readonly pos: number; readonly name: string }
  | { readonly type: 'not'; readonly pos: number; readonly operand: Node }
  | { readonly type: 'and' | 'or'; readonly pos: number; readonly operands: readonly Node[] }
  | {
      readonly type: 'compare';
      readonly pos: number;
      readonly op: CompareOp;
      readonly left: Node;
      readonly right: Node;
    }
  | {
      readonly type: 'arith';
      readonly pos: number;
      readonly first: Node;
      readonly rest: readonly { readonly op: ArithOp; readonly operand: Node }[];
    }
  | { readonly type: 'unary'; readonly pos: number; readonly op: '+' | '-'; readonly operand: Node }
  | {
      readonly type: 'between';
      readonly pos: number;
      readonly negated: boolean;
      readonly subject: Node;
      readonly low: Node;
      readonly high: Node;
    }
  | {
      readonly type: 'in';
      readonly pos: number;
      readonly negated: boolean;
      readonly subject: Node;
      readonly values: readonly string[];
    }
  | {
      readonly type: 'like';
      readonly pos: number;
      readonly negated: boolean;
      readonly subject: Node;
      readonly pattern: string;
      readonly escape: string | undefined;
    }
  | { readonly type: 'isNull'; readonly pos: number; readonly negated: boolean; readonly subject: Node };

const COMPARE_OPS: ReadonlySet<string> = new Set<CompareOp>(['=', '<>', '<', '>', '<=', '>=']);

/** Parses a selector; null when it holds nothing but blanks and comments (JMS: no selector). */
export function parse(text: string, maxDepth: number): Node | null {
  const p = new Parser(tokenize(text), maxDepth);
  if (p.peek().kind === 'eof') return null;
  const node = p.parseOr();
  const t = p.peek();
  if (t.kind !== 'eof') throw selectorError(t.pos, `unexpected ${describe(t)}`);
  return node;
}

class Parser {
  private i = 0;
  private depth = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly maxDepth: number,
  ) {}

  peek(): Token {
    // The token list always ends with 'eof', and nothing advances past it.
    return this.tokens[this.i] as Token;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isOp(op: Operator): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.op === op;
  }

  private isKeyword(k: Keyword): boolean {
    const t = this.peek();
    return t.kind === 'keyword' && t.keyword === k;
  }

  private expectOp(op: Operator): void {
    const t = this.next();
    if (t.kind !== 'op' || t.op !== op) throw selectorError(t.pos, `expected '${op}', found ${describe(t)}`);
  }

  private expectKeyword(k: Keyword): void {
    const t = this.next();
    if (t.kind !== 'keyword' || t.keyword !== k)
      throw selectorError(t.pos, `expected ${k}, found ${describe(t)}`);
  }

  private expectString(what: string): { value: string; pos: number } {
    const t = this.next();
    if (t.kind !== 'string')
      throw selectorError(t.pos, `expected a string literal ${what}, found ${describe(t)}`);
    return { value: t.value, pos: t.pos };
  }

  private enter(pos: number): void {
    if (++this.depth > this.maxDepth)
      throw selectorError(pos, `expression nested deeper than ${this.maxDepth} levels`);
  }

  parseOr(): Node {
    const first = this.parseAnd();
    if (!this.isKeyword('OR')) return first;
    const operands = [first];
    while (this.isKeyword('OR')) {
      this.next();
      operands.push(this.parseAnd());
    }
    return { type: 'or', pos: first.pos, operands };
  }

  private parseAnd(): Node {
    const first = this.parseNot();
    if (!this.isKeyword('AND')) return first;
    const operands = [first];
    while (this.isKeyword('AND')) {
      this.next();
      operands.push(this.parseNot());
    }
    return { type: 'and', pos: first.pos, operands };
  }

  private parseNot(): Node {
    if (!this.isKeyword('NOT')) return this.parseComparison();
    const pos = this.next().pos;
    this.enter(pos);
    const operand = this.parseNot();
    this.depth--;
    return { type: 'not', pos, operand };
  }

  private parseComparison(): Node {
    const left = this.parseAdditive();
    const t = this.peek();
    const pos = left.pos;
    if (t.kind === 'op' && COMPARE_OPS.has(t.op)) {
      this.next();
      return { type: 'compare', pos, op: t.op as CompareOp, left, right: this.parseAdditive() };
    }
    if (t.kind !== 'keyword') return left;
    if (t.keyword === 'IS') {
      this.next();
      const negated = this.isKeyword('NOT');
      if (negated) this.next();
      this.expectKeyword('NULL');
      return { type: 'isNull', pos, negated, subject: left };
    }
    let negated = false;
    if (t.keyword === 'NOT') {
      const after = this.tokens[this.i + 1];
      if (
        after?.kind !== 'keyword' ||
        (after.keyword !== 'BETWEEN' && after.keyword !== 'IN' && after.keyword !== 'LIKE')
      ) {
        throw selectorError(
          t.pos,
          `expected BETWEEN, IN or LIKE after NOT, found ${after === undefined ? 'end of input' : describe(after)}`,
        );
      }
      this.next();
      negated = true;
    }
    const op = this.peek();
    if (op.kind !== 'keyword') return left;
    switch (op.keyword) {
      case 'BETWEEN': {
        this.next();
        const low = this.parseAdditive();
        this.expectKeyword('AND');
        const high = this.parseAdditive();
        return { type: 'between', pos, negated, subject: left, low, high };
      }
      case 'IN': {
        this.next();
        // JMS 1.1 §3.8.1.1: identifier [NOT] IN (string-literal1, string-literal2, ...)
        this.expectOp('(');
        const values = [this.expectString('in the IN list').value];
        while (this.isOp(',')) {
          this.next();
          values.push(this.expectString('in the IN list').value);
        }
        this.expectOp(')');
        return { type: 'in', pos, negated, subject: left, values };
      }
      case 'LIKE': {
        this.next();
        const pattern = this.expectString('after LIKE').value;
        let escape: string | undefined;
        if (this.isKeyword('ESCAPE')) {
          this.next();
          const e = this.expectString('after ESCAPE');
          // JMS 1.1 §3.8.1.1: the escape-character is a single-character string literal.
          if ([...e.value].length !== 1) throw selectorError(e.pos, 'ESCAPE needs exactly one character');
          escape = e.value;
        }
        return { type: 'like', pos, negated, subject: left, pattern, escape };
      }
      default:
        return left;
    }
  }

  private parseAdditive(): Node {
    const first = this.parseMultiplicative();
    const rest: { op: ArithOp; operand: Node }[] = [];
    while (this.isOp('+') || this.isOp('-')) {
      const op = (this.next() as { op: ArithOp }).op;
      rest.push({ op, operand: this.parseMultiplicative() });
    }
    return rest.length === 0 ? first : { type: 'arith', pos: first.pos, first, rest };
  }

  private parseMultiplicative(): Node {
    const first = this.parseUnary();
    const rest: { op: ArithOp; operand: Node }[] = [];
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = (this.next() as { op: ArithOp }).op;
      rest.push({ op, operand: this.parseUnary() });
    }
    return rest.length === 0 ? first : { type: 'arith', pos: first.pos, first, rest };
  }

  private parseUnary(): Node {
    if (!this.isOp('+') && !this.isOp('-')) return this.parsePrimary();
    const t = this.next() as { op: '+' | '-'; pos: number };
    const following = this.peek();
    // A signed numeric literal is one literal, so -9223372036854775808 is Long.MIN_VALUE.
    if (following.kind === 'number') {
      this.next();
      const v = following.value;
      return { type: 'literal', pos: t.pos, value: t.op === '+' ? v : typeof v === 'bigint' ? -v : -v };
    }
    this.enter(t.pos);
    const operand = this.parseUnary();
    this.depth--;
    return { type: 'unary', pos: t.pos, op: t.op, operand };
  }

  private parsePrimary(): Node {
    const t = this.next();
    switch (t.kind) {
      case 'number':
      case 'string':
        return { type: 'literal', pos: t.pos, value: t.value };
      case 'ident':
        return { type: 'ident', pos: t.pos, name: t.name };
      case 'keyword':
        if (t.keyword === 'TRUE' || t.keyword === 'FALSE')
          return { type: 'literal', pos: t.pos, value: t.keyword === 'TRUE' };
        if (t.keyword === 'NULL') return { type: 'literal', pos: t.pos, value: null };
        break;
      case 'op':
        if (t.op === '(') {
          this.enter(t.pos);
          const inner = this.parseOr();
          this.expectOp(')');
          this.depth--;
          return inner;
        }
        break;
      case 'eof':
        break;
    }
    throw selectorError(t.pos, `expected an expression, found ${describe(t)}`);
  }
}
