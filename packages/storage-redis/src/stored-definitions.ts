/**
 * The definitions as the Redis store keeps them (`P defs`, one hash field per definition),
 * and their change feed: every definitions write increments `P defs:version` and publishes
 * `<version> <packed { o: origin, c: changes }>` on `P defs:feed`, in the same script, so a
 * version is never published without its write nor written without its notice.
 */
import type { Cluster, Redis } from 'ioredis';
import type { DefinitionChange, Definitions } from '@junction/core';
import { emptyDefinitions, pack, unpack } from '@junction/core';

type Kind = DefinitionChange['kind'];

/** Page size when reading hashes back. */
const PAGE = 500;
/**
 * A notice carries its changes up to this size; a bigger batch (a definitions import) goes
 * out without them and every node reloads instead, so one notice never outgrows a
 * subscriber's output buffer.
 */
export const MAX_FEED_PAYLOAD = 1024 * 1024;

export const definitionsVersionKey = (prefix: string): string => `${prefix}defs:version`;
export const definitionsFeedChannel = (prefix: string): string => `${prefix}defs:feed`;

/** What a notice carries after its version: who wrote the changes, and the changes. */
export interface FeedNotice {
  version: number;
  /** The writing store's `feedOrigin`, '' when it has none. */
  origin: string;
  /** undefined: too big to carry; reload. */
  changes: DefinitionChange[] | undefined;
}

export function feedPayload(origin: string, changes: readonly DefinitionChange[]): Buffer {
  const packed = pack({ o: origin, c: changes });
  return packed.length <= MAX_FEED_PAYLOAD ? packed : pack({ o: origin });
}

export function parseFeedNotice(message: Buffer): FeedNotice {
  const space = message.indexOf(0x20);
  const version = Number(message.subarray(0, space < 0 ? message.length : space).toString('latin1'));
  if (!Number.isSafeInteger(version)) throw new Error('a definitions notice without a version');
  const body = unpack(message.subarray(space + 1)) as { o?: string; c?: DefinitionChange[] };
  return { version, origin: body.o ?? '', changes: body.c };
}

/** Every field of a hash, HSCAN-paged (a field may repeat if the hash is rehashed meanwhile). */
export async function* scanHash(redis: Redis | Cluster, key: string): AsyncIterable<[string, Buffer]> {
  const seen = new Set<string>();
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscanBuffer(key, cursor, 'COUNT', PAGE);
    cursor = next.toString();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]!.toString('utf8');
      if (seen.has(field)) continue;
      seen.add(field);
      yield [field, flat[i + 1]!];
    }
  } while (cursor !== '0');
}

export async function readStoredDefinitions(redis: Redis | Cluster, prefix: string): Promise<Definitions> {
  const d: Definitions = emptyDefinitions();
  for await (const [field, value] of scanHash(redis, `${prefix}defs`)) {
    const kind = field.slice(0, field.indexOf('\u0000')) as Kind;
    (d[listOf(kind)] as unknown[]).push(unpack(value));
  }
  return d;
}

function listOf(kind: Kind): keyof Definitions {
  return kind === 'policy' ? 'policies' : (`${kind}s` as keyof Definitions);
}
