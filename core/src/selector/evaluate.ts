/**
 * Turns a parsed selector into closures, once per subscription: each node becomes a
 * function of the message, identifiers become direct property readers, LIKE patterns
 * become matchers and IN lists become Sets, and all-constant subtrees are folded. A
 * message then costs one call per node, with no tree walk and no dispatch on node types.
 *
 * Static type checks here reject what JMS 1.1 §3.8.1.1 and ActiveMQ reject when the
 * selector is created: NULL compared with `=`/`<`, strings or booleans ordered with
 * `<`/`>`, arithmetic on strings or booleans, booleans compared with numbers or strings,
 * LIKE/IN on numbers, and a selector that is not a condition at all.
 */
import type { Message } from '../message.js';
import { selectorError } from './error.js';
import { resolveIdentifier, type Kind } from './identifiers.js';
import { compileLike } from './like.js';
import type { CompareOp, Node } from './parser.js';
import {
  and3,
  or3,
  arith,
  equal,
  negate,
  notEqual,
  order,
  plus,
  toTri,
  type ArithOp,
  type Tri,
  type Value,
} from './values.js';

type Fn = (msg: Message) => Value;
type Cond = (msg: Message) => Tri;

interface Compiled {
  readonly fn: Fn;
  readonly kind: Kind;
  readonly constant: boolean;
  readonly pos: number;
}

const KIND_NAMES: Record<Kind, string> = {
  bool: 'a boolean',
  num: 'a number',
  str: 'a string',
  null: 'NULL',
  any: 'a property',
};

// Constant subtrees never read the message.
const NO_MESSAGE = undefined as unknown as Message;

function node(fn: Fn, kind: Kind, pos: number, children: readonly Compiled[]): Compiled {
  if (children.every((c) => c.constant)) {
    const v = fn(NO_MESSAGE);
    return { fn: () => v, kind, constant: true, pos };
  }
  return { fn, kind, constant: false, pos };
}

/** Compiles the selector's root into a predicate: a message is selected only when the whole expression is TRUE. */
export function compileRoot(root: Node): (msg: Message) => boolean {
  const cond = asCondition(compile(root));
  return (msg) => cond(msg) === true;
}

function compile(n: Node): Compiled {
  switch (n.type) {
    case 'literal': {
      const v = n.value;
      const kind: Kind =
        v === null ? 'null' : typeof v === 'boolean' ? 'bool' : typeof v === 'string' ? 'str' : 'num';
      return { fn: () => v, kind, constant: true, pos: n.pos };
    }
    case 'ident': {
      const r = resolveIdentifier(n.name);
      return { fn: r.get, kind: r.kind, constant: false, pos: n.pos };
    }
    case 'not': {
      const operand = compile(n.operand);
      const f = asCondition(operand);
      return node(
        (m) => {
          const v = f(m);
          return v === null ? null : !v;
        },
        'bool',
        n.pos,
        [operand],
      );
    }
    case 'and':
    case 'or':
      return compileLogic(n.type, n.operands, n.pos);
    case 'compare':
      return compileCompare(n.op, compile(n.left), compile(n.right), n.pos);
    case 'arith':
      return compileArith(n.first, n.rest, n.pos);
    case 'unary': {
      const operand = numeric(compile(n.operand), `unary '${n.op}'`);
      const f = operand.fn;
      const op = n.op === '-' ? negate : plus;
      return node(
        (m) => {
          const v = f(m);
          return v === null ? null : op(v);
        },
        'num',
        n.pos,
        [operand],
      );
    }
    case 'between':
      return compileBetween(n.negated, compile(n.subject), compile(n.low), compile(n.high), n.pos);
    case 'in': {
      const subject = textual(compile(n.subject), 'IN');
      const f = subject.fn;
      const set: ReadonlySet<string> = new Set(n.values);
      const negated = n.negated;
      // JMS 1.1 §3.8.1.1: a NULL identifier makes [NOT] IN unknown; a non-string value is an unlike-type comparison (FALSE).
      return node(
        (m) => {
          const v = f(m);
          if (v === null) return null;
          return typeof v === 'string' ? set.has(v) !== negated : false;
        },
        'bool',
        n.pos,
        [subject],
      );
    }
    case 'like': {
      const subject = textual(compile(n.subject), 'LIKE');
      const f = subject.fn;
      const match = compileLike(n.pattern, n.escape);
      const negated = n.negated;
      return node(
        (m) => {
          const v = f(m);
          if (v === null) return null;
          return typeof v === 'string' ? match(v) !== negated : false;
        },
        'bool',
        n.pos,
        [subject],
      );
    }
    case 'isNull': {
      const subject = compile(n.subject);
      const f = subject.fn;
      const negated = n.negated;
      return node((m) => (f(m) === null) !== negated, 'bool', n.pos, [subject]);
    }
  }
}

/** An operand used as a condition: booleans as they are, a property converted at run time (toTri). */
function asCondition(c: Compiled): Cond {
  if (c.kind === 'bool') return c.fn as Cond;
  if (c.kind === 'null') return () => null;
  if (c.kind === 'any') {
    const f = c.fn;
    return (m) => toTri(f(m));
  }
  throw selectorError(c.pos, `expected a condition, found ${KIND_NAMES[c.kind]}`);
}

function compileLogic(type: 'and' | 'or', operands: readonly Node[], pos: number): Compiled {
  const compiled = operands.map(compile);
  const conds = compiled.map(asCondition);
  // SQL three-valued logic (JMS 1.1 §3.8.1.1 tables): AND is FALSE if any operand is FALSE,
  // OR is TRUE if any is TRUE; otherwise any UNKNOWN makes the result UNKNOWN.
  const decisive = type === 'or';
  const fn: Fn = (m) => {
    let unknown = false;
    for (const c of conds) {
      const v = c(m);
      if (v === decisive) return decisive;
      if (v === null) unknown = true;
    }
    return unknown ? null : !decisive;
  };
  return node(fn, 'bool', pos, compiled);
}

function numeric(c: Compiled, what: string): Compiled {
  if (c.kind === 'num' || c.kind === 'any' || c.kind === 'null') return c;
  throw selectorError(c.pos, `${what} needs a number, found ${KIND_NAMES[c.kind]}`);
}

function textual(c: Compiled, what: string): Compiled {
  if (c.kind === 'str' || c.kind === 'any') return c;
  throw selectorError(c.pos, `${what} needs a string, found ${KIND_NAMES[c.kind]}`);
}

function notNullLiteral(c: Compiled, op: string): Compiled {
  // JMS 1.1 §3.8.1.1: NULL is tested with IS [NOT] NULL; `x = NULL` would always be UNKNOWN.
  if (c.kind === 'null')
    throw selectorError(c.pos, `NULL cannot be compared with '${op}'; use IS NULL or IS NOT NULL`);
  return c;
}

function compileCompare(op: CompareOp, left: Compiled, right: Compiled, pos: number): Compiled {
  notNullLiteral(left, op);
  notNullLiteral(right, op);
  const l = left.fn;
  const r = right.fn;
  if (op === '=' || op === '<>') {
    // JMS 1.1: like types only; a boolean never equals a number or a string (ActiveMQ rejects it up front).
    if ((left.kind === 'bool') !== (right.kind === 'bool') && left.kind !== 'any' && right.kind !== 'any') {
      throw selectorError(
        right.pos,
        `cannot compare ${KIND_NAMES[left.kind]} with ${KIND_NAMES[right.kind]}`,
      );
    }
    const cmp = op === '=' ? equal : notEqual;
    const fn: Fn = (m) => cmp(l(m), r(m));
    return node(fn, 'bool', pos, [left, right]);
  }
  numeric(left, `'${op}'`);
  numeric(right, `'${op}'`);
  const test = ORDER_TESTS[op];
  return node(
    (m) => {
      const s = order(l(m), r(m));
      return s === null ? null : test(s);
    },
    'bool',
    pos,
    [left, right],
  );
}

const ORDER_TESTS: Record<'<' | '>' | '<=' | '>=', (sign: number) => boolean> = {
  '<': (s) => s < 0,
  '>': (s) => s > 0,
  '<=': (s) => s <= 0,
  '>=': (s) => s >= 0,
};

function compileBetween(
  negated: boolean,
  subject: Compiled,
  low: Compiled,
  high: Compiled,
  pos: number,
): Compiled {
  for (const c of [subject, low, high]) numeric(notNullLiteral(c, 'BETWEEN'), 'BETWEEN');
  const s = subject.fn;
  const lo = low.fn;
  const hi = high.fn;
  // JMS 1.1 §3.8.1.1: "age BETWEEN 15 AND 19" is "age >= 15 AND age <= 19";
  // "age NOT BETWEEN 15 AND 19" is "age < 15 OR age > 19".
  // Each comparison is its own: two unlike types compare FALSE either way, so NOT BETWEEN is
  // not the negation of BETWEEN (a string is neither BETWEEN 1 AND 2 nor NOT BETWEEN them).
  const [combine, aboveLow, belowHigh] = negated
    ? [or3, (a: number) => a < 0, (b: number) => b > 0]
    : [and3, (a: number) => a >= 0, (b: number) => b <= 0];
  const fn: Fn = (m) => {
    const v = s(m);
    if (v === null) return null;
    const a = order(v, lo(m));
    const b = order(v, hi(m));
    return combine(a === null ? null : aboveLow(a), b === null ? null : belowHigh(b));
  };
  return node(fn, 'bool', pos, [subject, low, high]);
}

function compileArith(
  firstNode: Node,
  restNodes: readonly { op: ArithOp; operand: Node }[],
  pos: number,
): Compiled {
  const first = numeric(compile(firstNode), `'${restNodes[0]?.op ?? '+'}'`);
  const rest = restNodes.map(({ op, operand }) => ({ op, c: numeric(compile(operand), `'${op}'`) }));
  const f0 = first.fn;
  const ops = rest.map((x) => x.op);
  const fs = rest.map((x) => x.c.fn);
  const fn: Fn = (m) => {
    let acc = f0(m);
    for (let i = 0; i < fs.length && acc !== null; i++) {
      const v = (fs[i] as Fn)(m);
      acc = v === null ? null : arith(ops[i] as ArithOp, acc, v);
    }
    return acc;
  };
  return node(fn, 'num', pos, [first, ...rest.map((x) => x.c)]);
}
