/**
 * The queues a STOMP connection declares on the client's behalf: /queue/ destinations
 * (durable, declared on first use, as RabbitMQ does) and the connection's private
 * /temp-queue/ queues.
 */
import type { FieldTable } from '@junction/core';
import type { StompContext } from './context.js';
import { StompProtocolError } from './errors.js';

export interface QueueParams {
  durable: boolean;
  autoDelete: boolean;
}

export class ConnectionQueues {
  /** /queue/ names this connection has declared: a SEND to them needs no async work. */
  private readonly declared = new Set<string>();
  /** temp-queue name -> real (server-named, exclusive) queue. */
  private readonly temp = new Map<string, string>();

  constructor(private readonly ctx: StompContext) {}

  isDeclared(name: string): boolean {
    return this.declared.has(name);
  }

  /**
   * Declares a /queue/ destination's queue. With arguments the declare always runs: a
   * mismatch with the existing queue must be an error, not a silent reuse.
   */
  async declare(name: string, args?: FieldTable, params?: Partial<QueueParams>): Promise<void> {
    if (this.declared.has(name) && args === undefined && params === undefined) return;
    await this.ctx.session.declareQueue({
      name,
      durable: params?.durable ?? true,
      autoDelete: params?.autoDelete ?? false,
      exclusive: false,
      ...(args ? { arguments: args } : {}),
    });
    this.declared.add(name);
  }

  /** The real queue behind /temp-queue/<name>, if it exists yet. */
  tempQueue(name: string): string | undefined {
    return this.temp.get(name);
  }

  /** The real queue behind /temp-queue/<name>: server-named, exclusive, made on first use. */
  async ensureTempQueue(name: string): Promise<string> {
    let real = this.temp.get(name);
    if (real !== undefined) return real;
    const max = this.ctx.cfg.maxSubscriptions;
    if (this.temp.size >= max)
      throw new StompProtocolError('Too many temp queues', `at most ${max} temp queues per connection`);
    const d = await this.ctx.session.declareQueue({
      name: '',
      exclusive: true,
      autoDelete: false,
      durable: false,
    });
    real = d.queue;
    this.temp.set(name, real);
    return real;
  }
}
