/**
 * Which queue a SUBSCRIBE consumes, declared (and bound) as RabbitMQ's STOMP plugin does:
 *   /queue/x                       queue x (durable unless `durable:false`), declared on demand
 *   /amq/queue/x                   an existing queue, never declared
 *   /temp-queue/x                  the connection's private queue x
 *   /topic/k, /exchange/e[/k]      durable subscription (`durable`/`persistent`: true, with an
 *                                  `id`): a durable queue named by `x-queue-name` or after the
 *                                  client-id and subscription id, kept while the client is away;
 *                                  otherwise the queue `x-queue-name` names (non-durable,
 *                                  auto-delete unless `auto-delete:false`), or a server-named
 *                                  exclusive one. Each is bound to the exchange with the key.
 */
import type { Frame } from './parser.js';
import type { StompContext } from './context.js';
import { DestinationError, type Destination } from './destinations.js';
import { StompProtocolError } from './errors.js';
import { booleanHeader, queueArguments, wantsDurable } from './headers.js';
import type { ConnectionQueues } from './queues.js';

export interface SubscriptionQueue {
  readonly queue: string;
  /** A durable topic subscription's queue: deleted by UNSUBSCRIBE with durable:true. */
  readonly durableQueue?: string;
  /** MESSAGE destination override (temp queues show the name the client used). */
  readonly destination?: string;
}

export async function subscriptionQueue(
  ctx: StompContext,
  queues: ConnectionQueues,
  dest: Destination,
  frame: Frame,
  id: string,
): Promise<SubscriptionQueue> {
  const h = frame.headers;
  switch (dest.kind) {
    case 'queue': {
      const durable = booleanHeader(h, 'durable');
      const autoDelete = booleanHeader(h, 'auto-delete');
      await queues.declare(
        dest.name,
        queueArguments(h),
        durable === undefined && autoDelete === undefined
          ? undefined
          : {
              ...(durable !== undefined ? { durable } : {}),
              ...(autoDelete !== undefined ? { autoDelete } : {}),
            },
      );
      return { queue: dest.name };
    }
    case 'amq-queue':
      return { queue: dest.name };
    case 'temp-queue':
      return {
        queue: await queues.ensureTempQueue(dest.name),
        destination: '/temp-queue/' + dest.name,
      };
    case 'reply-queue':
      throw new DestinationError('cannot SUBSCRIBE to a /reply-queue/ destination');
    case 'topic':
    case 'exchange': {
      const exchange = dest.kind === 'topic' ? 'amq.topic' : dest.exchange;
      const named = h['x-queue-name'];
      const args = queueArguments(h);
      const session = ctx.session;
      let queue: string;
      let durableQueue: string | undefined;
      if (wantsDurable(h)) {
        if (h['id'] === undefined)
          throw new StompProtocolError('Missing header', 'a durable subscription requires an id header');
        // Deterministic name so the subscription (and its messages) survive a reconnect.
        queue = named ?? `stomp-subscription-${ctx.clientId !== undefined ? ctx.clientId + '-' : ''}${id}`;
        await session.declareQueue({
          name: queue,
          durable: true,
          autoDelete: booleanHeader(h, 'auto-delete') ?? false,
          exclusive: false,
          ...(args ? { arguments: args } : {}),
        });
        durableQueue = queue;
      } else if (named !== undefined) {
        // A named queue other clients (AMQP publishers) can reach; it goes with its consumers.
        queue = named;
        await session.declareQueue({
          name: queue,
          durable: false,
          autoDelete: booleanHeader(h, 'auto-delete') ?? true,
          exclusive: false,
          ...(args ? { arguments: args } : {}),
        });
      } else {
        const d = await session.declareQueue({ name: '', durable: false, exclusive: true, autoDelete: true });
        queue = d.queue;
      }
      await session.bindQueue(queue, exchange, dest.key);
      return durableQueue !== undefined ? { queue, durableQueue } : { queue };
    }
  }
}
