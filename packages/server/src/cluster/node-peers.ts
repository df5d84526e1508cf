/**
 * This node's side of the node link: the link itself (authenticated by the cluster secret),
 * dialed to every live node of the registry, and one NodePeer per open channel, which serves
 * this node's owned queues to that node (QueueExport) and carries this node's remote queues'
 * forwarded publishes and proxy consumers to it.
 */
import type { Logger } from 'pino';
import { LinkChannels, NodeLink, type LiveNode } from '@junction/cluster';
import type { Broker } from '@junction/core';
import { NodePeer } from '@junction/core/internal';

export class NodePeers {
  private readonly link: NodeLink;
  private readonly peers = new Map<string, NodePeer>();
  /** Nodes this one dials (or waits for), by id, with the address it was told. */
  private readonly wanted = new Map<string, string>();
  private broker: Broker | undefined;
  /** Called when a channel comes up or goes down (the owners' remote queues re-point). */
  onChange: (() => void) | undefined;

  constructor(
    private readonly nodeId: string,
    secret: string,
    private readonly log: Logger,
  ) {
    this.link = new NodeLink({ nodeId, secret, log });
    const channels = new LinkChannels(this.link);
    channels.onChannel((ch) => {
      const peer = new NodePeer(ch, { vhost: (name) => this.broker?.vhosts.get(name), log });
      this.peers.set(ch.peer, peer);
      ch.onDown((reason) => {
        if (this.peers.get(ch.peer) === peer) this.peers.delete(ch.peer);
        log.info({ peer: ch.peer, reason }, 'node link down');
        this.onChange?.();
      });
      log.info({ peer: ch.peer }, 'node link up');
      this.onChange?.();
    });
  }

  async listen(host: string, port: number): Promise<void> {
    await this.link.listen(host, port);
  }

  /** Queues exported to peers are this broker's. */
  serve(broker: Broker): void {
    this.broker = broker;
  }

  /** The open peer of a node, if its link is up. */
  peer(nodeId: string): NodePeer | undefined {
    const p = this.peers.get(nodeId);
    return p?.open ? p : undefined;
  }

  /** Dials the live nodes not dialed yet; forgets those gone from the registry. */
  track(live: readonly LiveNode[]): void {
    const ids = new Set<string>();
    for (const n of live) {
      if (n.id === this.nodeId) continue;
      ids.add(n.id);
      if (this.wanted.get(n.id) === n.address) continue;
      const at = n.address.lastIndexOf(':');
      const port = Number(n.address.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port)) {
        this.log.warn({ peer: n.id, address: n.address }, 'node link address unusable');
        continue;
      }
      this.wanted.set(n.id, n.address);
      this.link.connect(n.id, n.address.slice(0, at), port);
    }
    for (const id of [...this.wanted.keys()])
      if (!ids.has(id)) {
        this.wanted.delete(id);
        this.link.disconnect(id);
      }
  }

  status(): ReturnType<NodeLink['status']> {
    return this.link.status();
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
