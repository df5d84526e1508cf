/**
 * Cluster settings (config file key `cluster`, JUNCTION_CLUSTER_* env, --cluster-* flags):
 * a node started with a node name joins the cluster of every node on the same Redis. Kept
 * apart from config.ts's listener settings.
 */
import { readFileSync } from 'node:fs';
import type { JunctionConfig } from './config.js';

export interface ClusterConfig {
  /** Cluster mode is on when set; the node id is this name plus a random per-process suffix. */
  nodeName: string | null;
  /** Shared by every node; authenticates the node links. */
  secret: string | null;
  /** A file holding the secret (first line), so it shows in neither `ps` nor the environment. */
  secretFile: string | null;
  /** The host other nodes dial for the node link, advertised in the node registry; '' = this machine's hostname. */
  linkHost: string;
  linkPort: number;
}

export const clusterDefaults: ClusterConfig = {
  nodeName: null,
  secret: null,
  secretFile: null,
  linkHost: '',
  // RabbitMQ's inter-node (distribution) port.
  linkPort: 25672,
};

/** Room for the '-' and 8 hex digits of the per-process suffix within a 64-character node id. */
const NODE_NAME = /^[A-Za-z0-9._-]{1,55}$/;
/** Shorter secrets are too easy to guess for a link that carries every message. */
const MIN_SECRET = 16;

export const clusterSettings: Record<
  string,
  { describe: string; apply: (c: JunctionConfig, v: string) => void }
> = {
  'cluster-node-name': {
    describe:
      'turns cluster mode on: this node joins every node on the same Redis (--storage redis://... or redis-sentinel://...); 1-55 of A-Z a-z 0-9 . _ -',
    apply: (c, v) => (c.cluster.nodeName = v),
  },
  'cluster-secret': {
    describe: `secret shared by every node of the cluster, at least ${MIN_SECRET} characters (prefer the env var or --cluster-secret-file)`,
    apply: (c, v) => (c.cluster.secret = v),
  },
  'cluster-secret-file': {
    describe: 'file whose first line is the cluster secret',
    apply: (c, v) => (c.cluster.secretFile = v),
  },
  'cluster-link-host': {
    describe:
      "host the other nodes dial for the node link, advertised in the node registry (default: this machine's hostname)",
    apply: (c, v) => (c.cluster.linkHost = v),
  },
  'cluster-link-port': {
    describe: 'port of the node link',
    apply: (c, v) => (c.cluster.linkPort = linkPort(v)),
  },
};

function linkPort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`expected a port 1-65535, got '${v}'`);
  return n;
}

/** Whether a storage spec is the Redis store, the only one whose contents every node can reach. */
export function isRedisStorage(storage: string): boolean {
  return /^(redis|rediss|redis-sentinel):\/\//.test(storage);
}

/**
 * Refuses what cannot work (a cluster on a store other nodes cannot reach, no secret) and
 * reads the secret file into `secret`.
 */
export function checkCluster(c: ClusterConfig, storage: string): void {
  if (c.nodeName === null) {
    if (c.secret !== null || c.secretFile !== null)
      throw new Error('--cluster-secret is set but cluster mode is off: set --cluster-node-name too');
    return;
  }
  if (!NODE_NAME.test(c.nodeName))
    throw new Error(`--cluster-node-name '${c.nodeName}' is not 1-55 of A-Z a-z 0-9 . _ -`);
  if (!isRedisStorage(storage))
    throw new Error(
      `cluster mode needs the Redis store, which every node reaches: set --storage redis-sentinel://host:port,host:port/<master-name> (or redis://host:port), not '${storage.replace(/\/\/[^@/]*@/, '//***@')}'`,
    );
  if (c.secretFile !== null) {
    if (c.secret !== null) throw new Error('set one of --cluster-secret and --cluster-secret-file, not both');
    c.secret = (readFileSync(c.secretFile, 'utf8').split(/\r?\n/)[0] ?? '').trim();
  }
  if (c.secret === null)
    throw new Error(
      'cluster mode needs a secret shared by every node: --cluster-secret-file <file>, JUNCTION_CLUSTER_SECRET or --cluster-secret',
    );
  if (c.secret.length < MIN_SECRET)
    throw new Error(`the cluster secret must be at least ${MIN_SECRET} characters`);
  if (!Number.isInteger(c.linkPort) || c.linkPort < 1 || c.linkPort > 65535)
    throw new Error(`config file: cluster.linkPort: expected a port 1-65535`);
}
