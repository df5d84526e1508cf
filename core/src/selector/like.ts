/**
 * LIKE patterns (JMS 1.1 §3.8.1.1: `_` is any one character, `%` any sequence, the ESCAPE
 * character makes the next `_`/`%` literal), compiled once into a matcher.
 *
 * Not a RegExp: a pattern like '%a%a%a%a%b' is polynomial-to-exponential backtracking for
 * a backtracking regex engine, and selectors come from untrusted clients. Splitting on
 * `%` and placing each piece at its leftmost fit is exact for this pattern language (a
 * piece placed earlier never leaves less room for the pieces after it) and costs at most
 * O(value length x pattern length) per message.
 *
 * As ActiveMQ does, an escape character that is not followed by `_`, `%` or itself is an
 * ordinary character rather than an error, so selectors that work there work here.
 */

/** Code units of a piece; ANY (`_`) matches one character (a whole surrogate pair). */
const ANY = -1;

interface Piece {
  readonly units: readonly number[];
  /** The piece as a plain string when it has no `_`: matched with startsWith/indexOf/endsWith. */
  readonly literal: string | undefined;
}

function toPiece(units: number[]): Piece {
  return { units, literal: units.includes(ANY) ? undefined : String.fromCharCode(...units) };
}

/** End index of `piece` matched at `i`, or -1. */
function matchAt(s: string, i: number, piece: Piece): number {
  for (const u of piece.units) {
    if (i >= s.length) return -1;
    const c = s.charCodeAt(i);
    if (u === ANY) {
      const pair =
        c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      i += pair ? 2 : 1;
    } else if (c !== u) {
      return -1;
    } else {
      i++;
    }
  }
  return i;
}

/** Leftmost match of `piece` at or after `from`: its end index, or -1. */
function find(s: string, from: number, piece: Piece): number {
  if (piece.literal !== undefined) {
    const at = s.indexOf(piece.literal, from);
    return at === -1 ? -1 : at + piece.literal.length;
  }
  for (let start = from; start + piece.units.length <= s.length; start++) {
    const end = matchAt(s, start, piece);
    if (end !== -1) return end;
  }
  return -1;
}

/** Does `piece` match a suffix of `s` that starts at or after `from`? */
function matchesEnd(s: string, from: number, piece: Piece): boolean {
  if (piece.literal !== undefined)
    return s.length - piece.literal.length >= from && s.endsWith(piece.literal);
  // Each unit takes one or two code units, so the suffix is at most twice the piece long.
  for (
    let start = Math.max(from, s.length - 2 * piece.units.length);
    start + piece.units.length <= s.length;
    start++
  ) {
    if (matchAt(s, start, piece) === s.length) return true;
  }
  return false;
}

export function compileLike(pattern: string, escape: string | undefined): (s: string) => boolean {
  const pieces: Piece[] = [];
  let units: number[] = [];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    const nextCh = chars[i + 1];
    if (ch === escape && (nextCh === '_' || nextCh === '%' || nextCh === escape)) {
      for (let k = 0; k < nextCh.length; k++) units.push(nextCh.charCodeAt(k));
      i++;
    } else if (ch === '%') {
      pieces.push(toPiece(units));
      units = [];
    } else if (ch === '_') {
      units.push(ANY);
    } else {
      for (let k = 0; k < ch.length; k++) units.push(ch.charCodeAt(k));
    }
  }
  pieces.push(toPiece(units));

  const first = pieces[0] as Piece;
  if (pieces.length === 1) {
    // No '%': the whole value must match the piece.
    if (first.literal !== undefined) {
      const literal = first.literal;
      return (s) => s === literal;
    }
    return (s) => matchAt(s, 0, first) === s.length;
  }
  const last = pieces[pieces.length - 1] as Piece;
  const middle = pieces.slice(1, -1).filter((p) => p.units.length > 0);
  if (middle.length === 0 && first.literal !== undefined && last.literal !== undefined) {
    const head = first.literal;
    const tail = last.literal;
    if (tail === '') return (s) => s.startsWith(head);
    if (head === '') return (s) => s.endsWith(tail);
    return (s) => s.length >= head.length + tail.length && s.startsWith(head) && s.endsWith(tail);
  }
  if (
    first.units.length === 0 &&
    last.units.length === 0 &&
    middle.length === 1 &&
    middle[0]?.literal !== undefined
  ) {
    const inner = middle[0].literal;
    return (s) => s.includes(inner);
  }
  return (s) => {
    let pos = matchAt(s, 0, first);
    if (pos === -1) return false;
    for (const piece of middle) {
      pos = find(s, pos, piece);
      if (pos === -1) return false;
    }
    return matchesEnd(s, pos, last);
  };
}
