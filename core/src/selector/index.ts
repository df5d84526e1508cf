/**
 * JMS-style message selectors (JMS 1.1 §3.8.1, the SQL-92 conditional-expression subset,
 * as ActiveMQ implements it), compiled once per subscription and evaluated per message
 * by the core. Knows no protocol: an adapter passes the selector text and uses the
 * returned predicate as ConsumeOptions.filter. README.md beside this file lists the
 * identifier mapping and where behaviour differs from ActiveMQ.
 */
import type { Message } from '../message.js';
import { selectorError } from './error.js';
import { compileRoot } from './evaluate.js';
import { parse } from './parser.js';

/** Longest selector accepted, in UTF-8 bytes. */
export const MAX_SELECTOR_LENGTH = 4096;
/** Deepest nesting of parentheses, NOT and unary signs accepted. */
export const MAX_SELECTOR_DEPTH = 64;

export type SelectorPredicate = (msg: Message) => boolean;

const selectAll: SelectorPredicate = () => true;

/**
 * Compiles a selector into a predicate that is true only when the expression is TRUE
 * for the message (FALSE and UNKNOWN both leave it for other consumers). A blank
 * selector selects everything (JMS: an empty selector is no selector).
 *
 * @throws BrokerError PRECONDITION_FAILED, message `invalid selector at <offset>: <problem>`,
 *   where offset counts characters from 0.
 */
export function compileSelector(text: string): SelectorPredicate {
  if (text.length > MAX_SELECTOR_LENGTH || Buffer.byteLength(text, 'utf8') > MAX_SELECTOR_LENGTH) {
    throw selectorError(0, `selector longer than ${MAX_SELECTOR_LENGTH} bytes`);
  }
  const root = parse(text, MAX_SELECTOR_DEPTH);
  return root === null ? selectAll : compileRoot(root);
}
