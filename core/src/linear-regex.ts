/**
 * A regular-expression matcher whose cost is linear in the input: a Thompson NFA simulated
 * one input character at a time (every live state advanced together), so no pattern
 * backtracks. Patterns from users run on the event loop: the management list filter
 * (`?use_regex=true&name=...`, any management user), permission patterns and policy patterns;
 * with RegExp, `(a+)+$` against a long name froze the whole broker for seconds per match.
 *
 * It covers what a name filter needs: literals, `.`, classes (`[a-z]`, `[^...]`, `\d \w \s`
 * and their negations), anchors `^ $`, groups `( )` and `(?: )`, `|`, and the quantifiers
 * `* + ? {n} {n,} {n,m}` (lazy forms accepted: only whether it matches counts). What needs
 * backtracking (back-references, lookaround) is refused. Matching is unanchored, as
 * RegExp(pattern).test, and case-insensitive with `ignoreCase` (flag 'i').
 */

export class UnsupportedRegex extends Error {
  override name = 'UnsupportedRegex';
}

/** Longest pattern accepted, and most NFA states (counted repeats expand into copies). */
export const MAX_PATTERN_LENGTH = 1000;
export const MAX_STATES = 20_000;
const MAX_REPEAT = 1000;

type CharTest = (c: number) => boolean;

type Node =
  | { k: 'chr'; test: CharTest }
  | { k: 'bol' }
  | { k: 'eol' }
  | { k: 'cat'; items: Node[] }
  | { k: 'alt'; items: Node[] }
  | { k: 'rep'; node: Node; min: number; max: number };

const isDigit: CharTest = (c) => c >= 0x30 && c <= 0x39;
const isWord: CharTest = (c) =>
  isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const isSpace: CharTest = (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0xfeff;
const isLineEnd = (c: number): boolean => c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029;

const lower = (c: number): number => String.fromCharCode(c).toLowerCase().charCodeAt(0);
const upper = (c: number): number => String.fromCharCode(c).toUpperCase().charCodeAt(0);
/** Input is folded to lower case; a test then also accepts the upper-case form. */
const foldedTest =
  (t: CharTest): CharTest =>
  (c) =>
    t(c) || t(upper(c));

class Parser {
  private i = 0;
  private readonly folded: (t: CharTest) => CharTest;
  private readonly lower: (c: number) => number;
  constructor(
    private readonly src: string,
    ignoreCase: boolean,
  ) {
    this.folded = ignoreCase ? foldedTest : (t) => t;
    this.lower = ignoreCase ? lower : (c) => c;
  }

  parse(): Node {
    const n = this.alternation();
    if (this.i < this.src.length) throw new UnsupportedRegex(`unbalanced ')' at ${this.i}`);
    return n;
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private alternation(): Node {
    const items = [this.sequence()];
    while (this.peek() === '|') {
      this.i++;
      items.push(this.sequence());
    }
    return items.length === 1 ? items[0]! : { k: 'alt', items };
  }

  private sequence(): Node {
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek())
      items.push(this.quantified(this.atom()));
    return items.length === 1 ? items[0]! : { k: 'cat', items };
  }

  private quantified(node: Node): Node {
    for (;;) {
      const c = this.peek();
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
        if (!m) return node; // a literal '{', as RegExp reads it
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT))
          throw new UnsupportedRegex(`repeat count above ${MAX_REPEAT}`);
        if (max < min) throw new UnsupportedRegex('numbers out of order in {} quantifier');
        this.i += m[0].length - 1;
      } else return node;
      this.i++;
      if (this.peek() === '?') this.i++; // lazy: the same language
      if (node.k === 'bol' || node.k === 'eol') throw new UnsupportedRegex('nothing to repeat');
      node = { k: 'rep', node, min, max };
    }
  }

  private atom(): Node {
    const c = this.src[this.i++]!;
    switch (c) {
      case '(': {
        if (this.peek() === '?') {
          if (this.src[this.i + 1] !== ':')
            throw new UnsupportedRegex('lookaround and named groups are not supported');
          this.i += 2;
        }
        const inner = this.alternation();
        if (this.src[this.i++] !== ')') throw new UnsupportedRegex("missing ')'");
        return inner;
      }
      case '[':
        return { k: 'chr', test: this.folded(this.charClass()) };
      case '.':
        return { k: 'chr', test: (x) => !isLineEnd(x) };
      case '^':
        return { k: 'bol' };
      case '$':
        return { k: 'eol' };
      case '\\':
        return { k: 'chr', test: this.folded(this.escape(false)) };
      case '*':
      case '+':
      case '?':
        throw new UnsupportedRegex('nothing to repeat');
      default: {
        const code = this.lower(c.charCodeAt(0));
        return { k: 'chr', test: (x) => x === code };
      }
    }
  }

  /** After a backslash; inside a class, `\b` is a backspace. */
  private escape(inClass: boolean): CharTest {
    const c = this.src[this.i++];
    if (c === undefined) throw new UnsupportedRegex('\\ at end of pattern');
    switch (c) {
      case 'd':
        return isDigit;
      case 'D':
        return (x) => !isDigit(x);
      case 'w':
        return isWord;
      case 'W':
        return (x) => !isWord(x);
      case 's':
        return isSpace;
      case 'S':
        return (x) => !isSpace(x);
      case 'n':
        return (x) => x === 0x0a;
      case 'r':
        return (x) => x === 0x0d;
      case 't':
        return (x) => x === 0x09;
      case 'b':
        if (inClass) return (x) => x === 0x08;
        throw new UnsupportedRegex('word boundaries are not supported');
      default:
        if (/[1-9kBpPuxcu0]/.test(c)) throw new UnsupportedRegex(`'\\${c}' is not supported`);
        // Any other escaped character stands for itself.
        return (
          (code) => (x: number) =>
            x === code
        )(c.charCodeAt(0));
    }
  }

  private charClass(): CharTest {
    const negate = this.peek() === '^';
    if (negate) this.i++;
    const parts: CharTest[] = [];
    // As in JavaScript, a ']' right after '[' closes the class: `[]` matches nothing, `[^]` anything.
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) throw new UnsupportedRegex("missing ']'");
      if (c === ']') {
        this.i++;
        break;
      }
      const lo = this.classAtom();
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.src[this.i + 1] !== undefined) {
        this.i++;
        const hi = this.classAtom();
        if (typeof lo !== 'number' || typeof hi !== 'number')
          throw new UnsupportedRegex('a class escape cannot bound a range');
        if (hi < lo) throw new UnsupportedRegex('range out of order in character class');
        parts.push((x) => x >= lo && x <= hi);
      } else parts.push(typeof lo === 'number' ? (x) => x === lo : lo);
    }
    const any: CharTest = (x) => parts.some((p) => p(x));
    return negate ? (x) => !any(x) : any;
  }

  /** A character code, or a test for a class escape such as `\d`. */
  private classAtom(): number | CharTest {
    const c = this.src[this.i++]!;
    if (c !== '\\') return c.charCodeAt(0);
    const next = this.peek();
    if (next !== undefined && /[dDwWsS]/.test(next)) return this.escape(true);
    const t = this.escape(true);
    for (let code = 0; code < 0x80; code++) if (t(code)) return code;
    return t;
  }
}

// ---- NFA ------------------------------------------------------------------------------------

const enum Op {
  Char,
  Split,
  Bol,
  Eol,
  Match,
}

interface State {
  op: Op;
  test?: CharTest;
  out: number;
  out2: number;
}

function compile(root: Node): State[] {
  const states: State[] = [];
  const add = (s: State): number => {
    if (states.length >= MAX_STATES) throw new UnsupportedRegex('pattern too complex');
    states.push(s);
    return states.length - 1;
  };
  // Continuation style: each node is compiled with the state that follows it.
  const emit = (n: Node, next: number): number => {
    switch (n.k) {
      case 'chr':
        return add({ op: Op.Char, test: n.test, out: next, out2: -1 });
      case 'bol':
        return add({ op: Op.Bol, out: next, out2: -1 });
      case 'eol':
        return add({ op: Op.Eol, out: next, out2: -1 });
      case 'cat': {
        let s = next;
        for (let i = n.items.length - 1; i >= 0; i--) s = emit(n.items[i]!, s);
        return s;
      }
      case 'alt': {
        let s = emit(n.items[n.items.length - 1]!, next);
        for (let i = n.items.length - 2; i >= 0; i--)
          s = add({ op: Op.Split, out: emit(n.items[i]!, next), out2: s });
        return s;
      }
      case 'rep': {
        let s = next;
        if (n.max === Infinity) {
          const loop = add({ op: Op.Split, out: -1, out2: next });
          states[loop]!.out = emit(n.node, loop);
          s = loop;
        } else {
          for (let i = n.min; i < n.max; i++) s = add({ op: Op.Split, out: emit(n.node, s), out2: next });
        }
        for (let i = 0; i < n.min; i++) s = emit(n.node, s);
        return s;
      }
    }
  };
  const match = add({ op: Op.Match, out: -1, out2: -1 });
  const start = emit(root, match);
  // The start state goes last so that matching knows where to begin.
  states.push({ op: Op.Split, out: start, out2: start });
  return states;
}

export interface LinearRegex {
  test(input: string): boolean;
}

/** Compiles `pattern`; throws UnsupportedRegex for what it cannot match in linear time. */
export function linearRegex(pattern: string, opts: { ignoreCase?: boolean } = {}): LinearRegex {
  const ignoreCase = opts.ignoreCase === true;
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw new UnsupportedRegex(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  const states = compile(new Parser(pattern, ignoreCase).parse());
  const start = states.length - 1;
  const marks = new Int32Array(states.length);
  let generation = 0;
  const stack: number[] = [];

  /** Adds `s` and what it reaches without consuming input; true when that includes Match. */
  const addClosure = (s: number, pos: number, end: number, into: number[]): boolean => {
    let matched = false;
    stack.push(s);
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (marks[i] === generation) continue;
      marks[i] = generation;
      const st = states[i]!;
      switch (st.op) {
        case Op.Split:
          stack.push(st.out2, st.out);
          break;
        case Op.Bol:
          if (pos === 0) stack.push(st.out);
          break;
        case Op.Eol:
          if (pos === end) stack.push(st.out);
          break;
        case Op.Match:
          matched = true;
          break;
        case Op.Char:
          into.push(i);
      }
    }
    return matched;
  };

  return {
    test(input: string): boolean {
      const text = ignoreCase ? input.toLowerCase() : input;
      const end = text.length;
      let current: number[] = [];
      generation++;
      if (addClosure(start, 0, end, current)) return true;
      for (let pos = 0; pos < end; pos++) {
        const c = text.charCodeAt(pos);
        const next: number[] = [];
        generation++;
        for (const i of current) {
          const st = states[i]!;
          if (st.test!(c) && addClosure(st.out, pos + 1, end, next)) return true;
        }
        // Unanchored: a match may also start at the next position.
        if (addClosure(start, pos + 1, end, next)) return true;
        current = next;
      }
      return false;
    },
  };
}
