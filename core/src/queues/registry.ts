import { preconditionFailed } from '../errors.js';
import type { FieldTable } from '../message.js';
import { classicQueueType } from './classic.js';
import { MIRRORED_QUEUE_TYPE, mirroredQueueType } from './mirrored.js';
import type { PolicyDefinition } from './queue-settings.js';
import type { QueueType } from './queue-type.js';
import { streamQueueType } from '../streams/stream-queue.js';

/** The type a queue gets when its arguments name none (RabbitMQ's default, too). */
export const DEFAULT_QUEUE_TYPE = 'classic';

/** Queue types by name (x-queue-type). Adding a type is adding a module and one register() call. */
export class QueueTypeRegistry {
  private readonly types = new Map<string, QueueType>();

  constructor(types: readonly QueueType[] = [classicQueueType, streamQueueType, mirroredQueueType]) {
    for (const t of types) this.register(t);
  }

  register(type: QueueType): void {
    this.types.set(type.name, type);
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  /**
   * The type a declaration's arguments ask for; PRECONDITION_FAILED (406) for one not
   * registered. Without the argument, a policy's `queue-type: mirrored` picks the mirrored
   * type (only that one: it stores what a classic queue stores, so a later policy change that
   * brings the queue back classic at the next start leaves its messages readable).
   */
  forArguments(args: FieldTable, policy?: PolicyDefinition): QueueType {
    const byPolicy = policy?.['queue-type'] === MIRRORED_QUEUE_TYPE ? MIRRORED_QUEUE_TYPE : undefined;
    const name = args['x-queue-type'] ?? byPolicy ?? DEFAULT_QUEUE_TYPE;
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
