/**
 * The Lua scripts of the Redis store's streams (redis-stream-log.ts). Each touches the keys
 * of one stream only, every one named in KEYS and all under the stream's hash tag, so they
 * run unchanged on Redis Cluster. Like the queue scripts (scripts.ts) they are idempotent:
 * ioredis resends a command left unanswered by a dropped connection.
 *
 * Layout (S = the queue's stream base, P{<vhost>/<queue>}:st, keys.ts):
 *   S:segs        hash: segment id -> its table row, 'first,next,firstTs,lastTs,bytes,entries,compacted'
 *   S:seg:<id>    Redis stream: one entry per message, id '<offset>-1', field 'e' -> msgpack
 *                 [timestamp, exchange, routingKey, properties, body]
 *   S:prod        hash: producer name -> last sequence
 *   S:cons        hash: consumer name -> offset
 * Numbers travel as decimal strings and are stored as given (Lua would print big ones in
 * exponent form).
 */
import type { Cluster, Redis } from 'ioredis';
import { withFencedVariants } from './fence.js';

/**
 * KEYS: segs, prod, then one segment key per piece. ARGV: piece count, then per piece: segment
 * id, row, entry count, then per entry: offset, payload; then producer pairs: name, sequence.
 * Entries at or below a segment's last id are skipped (a resent append).
 */
const STREAM_APPEND = `
local a = A + 2
for k = 1, tonumber(ARGV[A + 1]) do
  local key = KEYS[K + 2 + k]
  local id, row, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  a = a + 3
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
  local lastOffset = last and tonumber(string.match(last[1], '^(%d+)')) or -1
  for i = 1, n do
    if tonumber(ARGV[a]) > lastOffset then redis.call('XADD', key, ARGV[a] .. '-1', 'e', ARGV[a + 1]) end
    a = a + 2
  end
  redis.call('HSET', KEYS[K + 1], id, row)
end
while a < #ARGV do
  redis.call('HSET', KEYS[K + 2], ARGV[a], ARGV[a + 1])
  a = a + 2
end
return 1
`;

/** KEYS: segs, then the segment keys. ARGV: the segment ids. Deletes whole segments. */
const STREAM_DELETE_SEGMENTS = `
for i = A + 1, #ARGV do
  redis.call('DEL', KEYS[K + 1 + i - A])
  redis.call('HDEL', KEYS[K + 1], ARGV[i])
end
return #ARGV - A
`;

/** KEYS: segs, the segment key. ARGV: segment id, its new row, then the offsets compaction dropped. */
const STREAM_DROP_ENTRIES = `
for i = A + 3, #ARGV do redis.call('XDEL', KEYS[K + 2], ARGV[i] .. '-1') end
redis.call('HSET', KEYS[K + 1], ARGV[A + 1], ARGV[A + 2])
return #ARGV - A - 2
`;

/** KEYS: cons. ARGV: consumer name, offset. */
const STREAM_CONSUMER_OFFSET = `
return redis.call('HSET', KEYS[K + 1], ARGV[A + 1], ARGV[A + 2])
`;

/** KEYS: every key of the stream. Deletes them all. */
const STREAM_DROP = `
local n = 0
for i = K + 1, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
return n
`;

/** Each unfenced and fenced (fence.ts): a fenced call has the epoch key and epoch in front. */
export const STREAM_SCRIPTS = withFencedVariants({
  junctionStreamAppend: STREAM_APPEND,
  junctionStreamDeleteSegments: STREAM_DELETE_SEGMENTS,
  junctionStreamDropEntries: STREAM_DROP_ENTRIES,
  junctionStreamConsumerOffset: STREAM_CONSUMER_OFFSET,
  junctionStreamDrop: STREAM_DROP,
});

export type StreamScriptName = keyof typeof STREAM_SCRIPTS;

/** Registers the stream scripts on a client (EVALSHA; their first argument is the key count). */
export function defineStreamScripts(client: Redis | Cluster): void {
  for (const [name, lua] of Object.entries(STREAM_SCRIPTS)) client.defineCommand(name, { lua });
}
