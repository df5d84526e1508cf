/**
 * Cluster mode's pieces, started in order: membership (before the broker, so its message ids
 * and queue hosting exist when the broker recovers), then, once the broker is up, the
 * definitions feed and the claim passes. What management is shown of it comes from here too.
 */
import type { Logger } from 'pino';
import type { Broker, Store } from '@junction/core';
import type { ClusterView } from '@junction/management';
import { isSentinelUrl } from '@junction/storage-redis';
import { ClusterNode } from './cluster-node.js';
import { startDefinitionsSync } from './definitions-sync.js';
import { MessageIdBlocks } from './message-id-blocks.js';
import { NodePeers } from './node-peers.js';
import { QueueOwnership } from './queue-ownership.js';

export interface ClusterRuntime {
  readonly node: ClusterNode;
  readonly ids: MessageIdBlocks;
  readonly ownership: QueueOwnership;
  readonly view: ClusterView;
  /** Follows the definitions feed and starts claiming queues for `broker`. */
  attach(broker: Broker): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(opts: {
  url: string;
  nodeId: string;
  linkAddress: string;
  /** Where the node link listens. */
  linkListen: { host: string; port: number };
  /** The cluster secret: authenticates the node link. */
  secret: string;
  log: Logger;
  /** The store's key prefix; default 'junction:'. */
  keyPrefix?: string;
  /** The Redis store: queue writes are fenced by the epochs this node owns them under. */
  store: Store;
}): Promise<ClusterRuntime> {
  const { log } = opts;
  const node = await ClusterNode.start({
    url: opts.url,
    nodeId: opts.nodeId,
    linkAddress: opts.linkAddress,
    log,
    // On a replication group a new epoch must reach a replica before it counts, so a
    // failover cannot bring back an older one (packages/cluster's QueueLeases).
    minReplicas: isSentinelUrl(opts.url) ? 1 : 0,
  });
  let sync: Awaited<ReturnType<typeof startDefinitionsSync>> | undefined;
  let ownership: QueueOwnership;
  let ids: MessageIdBlocks;
  const peers = new NodePeers(node.nodeId, opts.secret, log.child({ component: 'node-link' }));
  try {
    await peers.listen(opts.linkListen.host, opts.linkListen.port);
    ids = await MessageIdBlocks.start(node.redis, `${opts.keyPrefix ?? 'junction:'}maxid`, (err) =>
      log.warn({ err }, 'reserving the next message id block failed; retried before this one runs out'),
    );
    ownership = new QueueOwnership(node, ids, opts.store, log, peers);
  } catch (err) {
    await peers.close();
    await node.close();
    throw err;
  }
  return {
    node,
    ids,
    ownership,
    view: {
      nodeId: node.nodeId,
      nodes: () => node.nodes(),
      queueOwner: (vhost, queue) => ownership.ownerOf(vhost, queue),
    },
    async attach(broker) {
      peers.serve(broker);
      sync = await startDefinitionsSync({ url: opts.url, broker, node, ownership, log });
      ownership.start(broker);
    },
    async close() {
      ownership.stop();
      sync?.stop();
      await node.close();
      await peers.close();
    },
  };
}
