/**
 * Keeps this node's definitions in step with the other nodes' (the Redis store's change
 * feed, RedisDefinitionsFeed): their changes applied to memory, a full reload after a gap or
 * a reconnect, and a claim pass after each, so a queue placed here is taken at once.
 */
import type { Logger } from 'pino';
import type { Broker } from '@junction/core';
import { RedisDefinitionsFeed } from '@junction/storage-redis';
import type { ClusterNode } from './cluster-node.js';
import type { QueueOwnership } from './queue-ownership.js';
import { openRedis } from './redis-connection.js';

export async function startDefinitionsSync(opts: {
  url: string;
  broker: Broker;
  node: ClusterNode;
  ownership: QueueOwnership;
  log: Logger;
}): Promise<{ feed: RedisDefinitionsFeed; stop(): void }> {
  const { broker, node, ownership, log } = opts;
  let stopped = false;
  const { redis: subscriber } = openRedis(
    opts.url,
    () => !stopped,
    (err) => log.debug({ err }, 'definitions feed connection error'),
  );
  const feed = new RedisDefinitionsFeed({
    redis: node.redis,
    subscriber,
    origin: node.nodeId,
    apply: async (changes) => {
      await broker.applyStoredDefinitions(changes);
      ownership.kick();
    },
    reload: async (defs, reason) => {
      await broker.reconcileDefinitions(defs);
      log.info({ reason }, 'definitions reloaded from the store');
      ownership.kick();
    },
    onError: (err) => log.warn({ err }, 'definitions feed: a change was not applied; the next poll reloads'),
  });
  await subscriber.connect();
  await feed.start();
  return {
    feed,
    stop: () => {
      stopped = true;
      feed.stop();
      subscriber.disconnect();
    },
  };
}
