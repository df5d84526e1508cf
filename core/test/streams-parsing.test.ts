import { describe, expect, it } from 'vitest';
import { BrokerError } from '../src/index.js';
import { parseInterval } from '../src/streams/interval.js';
import { parseOffsetSpec, resolveOffset } from '../src/streams/offset-spec.js';
import { STREAM_DEFAULT_SEGMENT_BYTES } from '../src/storage/stream-log.js';
import { checkStreamDeclaration, streamRetention } from '../src/streams/stream-arguments.js';
import { consumerName, producerStamp } from '../src/streams/stream-identities.js';

const now = Date.UTC(2026, 11, 4, 22, 0, 0);

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
    expect((err as BrokerError).replyCode).toBe(406);
    return (err as BrokerError).message;
  }
  throw new Error('expected a PRECONDITION_FAILED');
}

describe('interval strings (x-max-age, x-stream-offset ages)', () => {
  it('reads every RabbitMQ unit', () => {
    expect(parseInterval('10s')).toBe(10_000);
    expect(parseInterval('30m')).toBe(1_800_000);
    expect(parseInterval('12h')).toBe(43_200_000);
    expect(parseInterval('7D')).toBe(604_800_000);
    expect(parseInterval('1M')).toBe(30 * 86_400_000);
    expect(parseInterval('2Y')).toBe(2 * 365 * 86_400_000);
  });

  it('refuses zero, no unit, unknown units, signs, spaces and absurd lengths', () => {
    for (const bad of [
      '0s',
      '10',
      's',
      '1d',
      '1H',
      '-1h',
      '+1h',
      ' 1h',
      '1h ',
      '1.5h',
      '1hh',
      '9999999999999s',
      '',
    ])
      expect(parseInterval(bad), bad).toBeUndefined();
  });
});

describe('x-stream-offset', () => {
  it('reads first, last, next and the default next', () => {
    expect(parseOffsetSpec('first', now)).toEqual({ kind: 'first' });
    expect(parseOffsetSpec('last', now)).toEqual({ kind: 'last' });
    expect(parseOffsetSpec('next', now)).toEqual({ kind: 'next' });
    expect(parseOffsetSpec(undefined, now)).toEqual({ kind: 'next' });
  });

  it('reads numeric offsets, AMQP timestamps in seconds and intervals before now', () => {
    expect(parseOffsetSpec(42, now)).toEqual({ kind: 'offset', offset: 42 });
    expect(parseOffsetSpec(0n, now)).toEqual({ kind: 'offset', offset: 0 });
    expect(parseOffsetSpec({ '!': 'timestamp', value: 1_700_000_000 }, now)).toEqual({
      kind: 'timestamp',
      at: 1_700_000_000_000,
    });
    expect(parseOffsetSpec(new Date(now - 5000), now)).toEqual({ kind: 'timestamp', at: now - 5000 });
    expect(parseOffsetSpec('1h', now)).toEqual({ kind: 'timestamp', at: now - 3_600_000 });
  });

  it('refuses anything else with 406 naming the argument', () => {
    for (const bad of [
      'First',
      'offset=3',
      '1x',
      -1,
      1.5,
      2n ** 60n,
      Buffer.from('first'),
      [1],
      true,
      { a: 1 },
    ])
      expect(refusal(() => parseOffsetSpec(bad, now))).toContain("invalid arg 'x-stream-offset'");
    expect(refusal(() => parseOffsetSpec({ '!': 'timestamp', value: -5 }, now))).toContain('timestamp');
  });

  it('resolves against the retained log: clamps offsets, finds timestamps', async () => {
    const log = { firstOffset: 100, nextOffset: 200, offsetForTimestamp: async (at: number) => at / 10 };
    expect(await resolveOffset({ kind: 'first' }, log)).toBe(100);
    expect(await resolveOffset({ kind: 'last' }, log)).toBe(199);
    expect(await resolveOffset({ kind: 'next' }, log)).toBe(200);
    expect(await resolveOffset({ kind: 'offset', offset: 5 }, log)).toBe(100);
    expect(await resolveOffset({ kind: 'offset', offset: 150 }, log)).toBe(150);
    expect(await resolveOffset({ kind: 'offset', offset: 5000 }, log)).toBe(200);
    expect(await resolveOffset({ kind: 'timestamp', at: 1500 }, log)).toBe(150);
    expect(await resolveOffset({ kind: 'timestamp', at: 10 }, log)).toBe(100);
    const empty = { firstOffset: 0, nextOffset: 0, offsetForTimestamp: async () => 0 };
    expect(await resolveOffset({ kind: 'last' }, empty)).toBe(0);
  });
});

describe('stream declarations and retention', () => {
  const ref = "queue 's' in vhost '/'";
  const ok = { durable: true, exclusive: false, autoDelete: false, arguments: { 'x-queue-type': 'stream' } };

  it('needs durable, not exclusive, not auto-delete, as RabbitMQ words it', () => {
    expect(() => checkStreamDeclaration(ok, ref)).not.toThrow();
    expect(refusal(() => checkStreamDeclaration({ ...ok, durable: false }, ref))).toBe(
      "PRECONDITION_FAILED - invalid property 'non-durable' for queue 's' in vhost '/'",
    );
    expect(refusal(() => checkStreamDeclaration({ ...ok, exclusive: true }, ref))).toContain(
      "invalid property 'exclusive-owner'",
    );
    expect(refusal(() => checkStreamDeclaration({ ...ok, autoDelete: true }, ref))).toContain(
      "invalid property 'auto-delete'",
    );
  });

  it('refuses classic-only arguments', () => {
    for (const arg of [
      'x-max-priority',
      'x-message-ttl',
      'x-dead-letter-exchange',
      'x-overflow',
      'x-max-length',
    ])
      expect(
        refusal(() => checkStreamDeclaration({ ...ok, arguments: { ...ok.arguments, [arg]: 1 } }, ref)),
      ).toBe(`PRECONDITION_FAILED - invalid arg '${arg}' for queue 's' in vhost '/'`);
  });

  it('reads retention from arguments, the lower of argument and policy winning', () => {
    expect(streamRetention({})).toEqual({ maxSegmentBytes: STREAM_DEFAULT_SEGMENT_BYTES });
    expect(
      streamRetention({
        'x-max-length-bytes': 20_000_000_000,
        'x-max-age': '7D',
        'x-stream-max-segment-size-bytes': 100_000_000,
        'x-stream-compact': true,
      }),
    ).toEqual({
      maxSegmentBytes: 100_000_000,
      maxBytes: 20_000_000_000,
      maxAgeMs: 604_800_000,
      compact: true,
    });
    expect(streamRetention({ 'x-max-age': '7D' }, { 'max-age': '1D', 'max-length-bytes': 1000 })).toEqual({
      maxSegmentBytes: STREAM_DEFAULT_SEGMENT_BYTES,
      maxAgeMs: 86_400_000,
      maxBytes: 1000,
    });
    expect(streamRetention({ 'x-max-age': '1h' }, { 'max-age': '1D' }).maxAgeMs).toBe(3_600_000);
  });

  it('refuses bad retention arguments with 406', () => {
    expect(refusal(() => streamRetention({ 'x-max-age': '7d' }))).toContain("invalid arg 'x-max-age'");
    expect(refusal(() => streamRetention({ 'x-max-age': 3600 }))).toContain("invalid arg 'x-max-age'");
    expect(refusal(() => streamRetention({ 'x-max-length-bytes': -1 }))).toContain(
      "invalid arg 'x-max-length-bytes'",
    );
    expect(refusal(() => streamRetention({ 'x-max-length-bytes': '1GB' }))).toContain('x-max-length-bytes');
    expect(refusal(() => streamRetention({ 'x-stream-max-segment-size-bytes': 3_000_000_001 }))).toBe(
      'PRECONDITION_FAILED - Exceeded max value for x-stream-max-segment-size-bytes',
    );
    expect(refusal(() => streamRetention({ 'x-stream-max-segment-size-bytes': 10 }))).toContain('[4096,');
    expect(refusal(() => streamRetention({ 'x-stream-compact': 'yes' }))).toContain('x-stream-compact');
    expect(refusal(() => streamRetention({}, { 'max-age': 'forever' }))).toContain("invalid arg 'max-age'");
  });
});

describe('consumer and producer names', () => {
  it('reads a consumer name, none for anonymous consumers', () => {
    expect(consumerName({ 'x-stream-consumer-name': 'billing' })).toBe('billing');
    expect(consumerName({})).toBeUndefined();
    expect(consumerName(undefined)).toBeUndefined();
  });

  it('refuses empty, long, non-string and control-character names', () => {
    for (const bad of ['', 'x'.repeat(256), 'é'.repeat(128), 5, 'a\nb', Buffer.from('a')])
      expect(refusal(() => consumerName({ 'x-stream-consumer-name': bad }))).toContain(
        'x-stream-consumer-name',
      );
    expect(consumerName({ 'x-stream-consumer-name': 'x'.repeat(255) })).toHaveLength(255);
  });

  it('reads producer stamps from AMQP numbers and STOMP/MQTT strings', () => {
    expect(producerStamp(undefined)).toBeUndefined();
    expect(producerStamp({ other: 1 })).toBeUndefined();
    expect(producerStamp({ 'x-stream-producer': 'p1', 'x-stream-sequence': 7 })).toEqual({
      name: 'p1',
      sequence: 7,
    });
    expect(producerStamp({ 'x-stream-producer': 'p1', 'x-stream-sequence': '12' })).toEqual({
      name: 'p1',
      sequence: 12,
    });
    expect(producerStamp({ 'x-stream-producer': 'p1', 'x-stream-sequence': 3n })).toEqual({
      name: 'p1',
      sequence: 3,
    });
  });

  it('refuses half stamps and bad sequences', () => {
    expect(refusal(() => producerStamp({ 'x-stream-producer': 'p1' }))).toContain('x-stream-sequence');
    expect(refusal(() => producerStamp({ 'x-stream-sequence': 1 }))).toContain("needs 'x-stream-producer'");
    for (const bad of [-1, 1.5, 'seven', '-3', '1e3'])
      expect(refusal(() => producerStamp({ 'x-stream-producer': 'p', 'x-stream-sequence': bad }))).toContain(
        'x-stream-sequence',
      );
  });
});
