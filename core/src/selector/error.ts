import { BrokerError } from '../errors.js';

/**
 * A selector that cannot be compiled. PRECONDITION_FAILED because the subscriber asked
 * for something the broker cannot honour; the adapter renders it (STOMP: an ERROR frame).
 * `position` is the 0-based character offset into the selector text.
 */
export function selectorError(position: number, problem: string): BrokerError {
  return new BrokerError('PRECONDITION_FAILED', `invalid selector at ${position}: ${problem}`);
}
