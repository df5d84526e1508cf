import { preconditionFailed } from '../errors.js';
import type { ExchangeType } from './exchange-type.js';

/**
 * Stands in for a recovered exchange whose type is no longer loaded: recovery goes on,
 * and the exchange refuses to route instead of silently dropping (RabbitMQ does the same).
 */
export function invalidExchangeType(name: string): ExchangeType {
  const refuse = (): never => {
    throw preconditionFailed(`exchange type '${name}' is not available`);
  };
  return {
    name,
    validateBinding: refuse,
    createIndex: () => ({ add() {}, remove() {}, match: refuse }),
  };
}
