/**
 * What management shows of a cluster (given by the server in cluster mode; absent on a
 * single node): the nodes of the registry and which node owns each queue.
 */
export interface ClusterNodeInfo {
  id: string;
  /** The configured name (the id without its per-process suffix). */
  name: string;
  state: 'running' | 'down';
  /** host:port of its node link. */
  address: string;
  /** Queues it owns. */
  queues: number;
  leaseLeftMs: number;
  /** This node, the one answering. */
  self: boolean;
  /** The node link to it, when one is known: 'up' or 'down'. */
  link?: 'up' | 'down';
}

export interface ClusterView {
  /** This node's id. */
  nodeId: string;
  nodes(): Promise<ClusterNodeInfo[]>;
  /** The id of the node owning a queue, undefined when unknown (no owner right now). */
  queueOwner(vhost: string, queue: string): string | undefined;
}
