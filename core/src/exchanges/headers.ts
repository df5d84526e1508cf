import { preconditionFailed } from '../errors.js';
import type { FieldTable, FieldValue } from '../message.js';
import type { BindingIndex, Destination, ExchangeType, IndexEntry } from './exchange-type.js';

type MatchMode = 'all' | 'any' | 'all-with-x' | 'any-with-x';
const modes = new Set<string>(['all', 'any', 'all-with-x', 'any-with-x']);

interface Compiled {
  readonly destination: Destination;
  readonly all: boolean;
  readonly entries: readonly (readonly [string, FieldValue])[];
}

function mode(args: FieldTable): MatchMode {
  const m = args['x-match'];
  if (m === undefined) return 'all';
  if (typeof m !== 'string' || !modes.has(m)) {
    throw preconditionFailed(
      `invalid x-match field value ${JSON.stringify(String(m))}; expected one of all, any, all-with-x, any-with-x`,
    );
  }
  return m as MatchMode;
}

function compile(b: IndexEntry): Compiled {
  const m = mode(b.args);
  const withX = m.endsWith('-with-x');
  // RabbitMQ: keys starting with "x-" are ignored unless the mode is *-with-x; x-match never counts.
  const entries = Object.entries(b.args).filter(([k]) => k !== 'x-match' && (withX || !k.startsWith('x-')));
  return { destination: b.destination, all: m.startsWith('all'), entries };
}

function sameValue(bound: FieldValue, actual: FieldValue): boolean {
  if (bound === actual) return true;
  if (typeof bound === 'number' || typeof bound === 'bigint') {
    return (typeof actual === 'number' || typeof actual === 'bigint') && BigInt(bound) === BigInt(actual);
  }
  if (Buffer.isBuffer(bound)) return Buffer.isBuffer(actual) && bound.equals(actual);
  if (typeof bound === 'object' && bound !== null && typeof actual === 'object' && actual !== null) {
    return JSON.stringify(bound) === JSON.stringify(actual);
  }
  return false;
}

/** Own headers only: a binding on `toString` or `constructor` must not find Object.prototype's. */
function matches(c: Compiled, headers: FieldTable | undefined): boolean {
  const h = headers ?? {};
  if (c.all) {
    for (const [k, v] of c.entries) {
      if (!Object.hasOwn(h, k)) return false;
      // A void-valued binding argument matches any value of a present header.
      if (v !== null && v !== undefined && !sameValue(v, h[k])) return false;
    }
    return true;
  }
  for (const [k, v] of c.entries) {
    if (Object.hasOwn(h, k) && (v === null || v === undefined || sameValue(v, h[k]))) return true;
  }
  return false;
}

/** Matches message headers against binding arguments: linear in bindings, as headers routing has no index key. */
export const headersExchange: ExchangeType = {
  name: 'headers',
  validateBinding(_key, args) {
    mode(args);
  },
  createIndex(): BindingIndex {
    const bindings = new Map<string, Compiled>();
    return {
      add: (b) => void bindings.set(b.id, compile(b)),
      remove: (b) => void bindings.delete(b.id),
      match(msg, out) {
        for (const c of bindings.values()) if (matches(c, msg.properties.headers)) out.add(c.destination);
      },
    };
  },
};
