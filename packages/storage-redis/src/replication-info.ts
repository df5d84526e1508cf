/**
 * What `INFO server replication` says about a Redis server's place in its replication group:
 * which server it is (`run_id`, new at every start), its role, its replication history
 * (`master_replid`, new at every promotion) and offset, and, on a primary, each replica's
 * state and the offset it last acknowledged (REPLCONF ACK). The replication gate reads it
 * twice: in the commit pipeline (where the write went, and how far its offset reaches) and
 * after its WAIT (which replicas have it).
 */
export interface ReplicaAck {
  /** `online` once the replica streams; `wait_bgsave`, `send_bulk`... while it syncs. */
  readonly state: string;
  /** The replication offset the replica last acknowledged. */
  readonly offset: number;
}

export interface ReplicationInfo {
  readonly runId: string;
  readonly role: string;
  readonly replid: string;
  /** master_repl_offset: every write this server has executed is at or below it. */
  readonly offset: number;
  /** Replicas by `ip:port` (the address Sentinel lists them under too). */
  readonly replicas: ReadonlyMap<string, ReplicaAck>;
}

export class ReplicationInfoError extends Error {}

export function parseReplicationInfo(text: string): ReplicationInfo {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const need = (name: string): string => {
    const v = fields.get(name);
    if (v === undefined) throw new ReplicationInfoError(`INFO has no '${name}' (is this a Redis server?)`);
    return v;
  };
  const replicas = new Map<string, ReplicaAck>();
  for (const [name, value] of fields) {
    if (!/^slave\d+$/.test(name)) continue;
    const kv = new Map(value.split(',').map((p) => p.split('=', 2) as [string, string]));
    const ip = kv.get('ip');
    const port = kv.get('port');
    if (ip === undefined || port === undefined) continue;
    replicas.set(`${ip}:${port}`, { state: kv.get('state') ?? '', offset: Number(kv.get('offset') ?? -1) });
  }
  return {
    runId: need('run_id'),
    role: need('role'),
    replid: need('master_replid'),
    offset: Number(need('master_repl_offset')),
    replicas,
  };
}
