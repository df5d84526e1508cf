import { preconditionFailed } from '../errors.js';
import type { FieldTable } from '../message.js';
import { classicQueueType } from './classic.js';
import type { QueueType } from './queue-type.js';
import { streamQueueType } from '../streams/stream-queue.js';

/** The type a queue gets when its arguments name none (RabbitMQ's default, too). */
export const DEFAULT_QUEUE_TYPE = 'classic';

/** Queue types by name (x-queue-type). Adding a type is adding a module and one register() call. */
export class QueueTypeRegistry {
  private readonly types = new Map<string, QueueType>();

  constructor(types: readonly QueueType[] = [classicQueueType, streamQueueType]) {
    for (const t of types) this.register(t);
  }

  register(type: QueueType): void {
    this.types.set(type.name, type);
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  /** The type a declaration's arguments ask for; PRECONDITION_FAILED (406) for one not registered. */
  forArguments(args: FieldTable): QueueType {
    const name = args['x-queue-type'] ?? DEFAULT_QUEUE_TYPE;
    const t = typeof name === 'string' ? this.types.get(name) : undefined;
    if (!t) {
      throw preconditionFailed(
        `invalid arg 'x-queue-type': '${String(name)}' is not a queue type of this broker (${this.names().join(', ')})`,
      );
    }
    return t;
  }

  names(): string[] {
    return [...this.types.keys()];
  }
}
