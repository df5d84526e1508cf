import { BrokerError } from '../errors.js';
import { directExchange } from './direct.js';
import type { ExchangeType } from './exchange-type.js';
import { fanoutExchange } from './fanout.js';
import { headersExchange } from './headers.js';
import { superStreamExchange } from './super-stream.js';
import { topicExchange } from './topic.js';

/** Exchange types by name. Adding a type is adding a module and one register() call. */
export class ExchangeTypeRegistry {
  private readonly types = new Map<string, ExchangeType>();

  constructor(
    types: readonly ExchangeType[] = [
      directExchange,
      fanoutExchange,
      topicExchange,
      headersExchange,
      superStreamExchange,
    ],
  ) {
    for (const t of types) this.register(t);
  }

  register(type: ExchangeType): void {
    this.types.set(type.name, type);
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  get(name: string): ExchangeType {
    const t = this.types.get(name);
    // AMQP 0-9-1 exchange.declare: an unknown type is a connection error, command-invalid (503).
    if (!t) throw new BrokerError('COMMAND_INVALID', `COMMAND_INVALID - unknown exchange type '${name}'`);
    return t;
  }

  names(): string[] {
    return [...this.types.keys()];
  }
}
