/**
 * Per-connection limits, one setting each (config file key `limits`, JUNCTION_* env, flags):
 * how many consumers an AMQP channel, and how many subscriptions an MQTT client or a STOMP
 * connection, may hold, and how many unacked messages a channel or STOMP connection whose
 * client asked for no prefetch may pin. Kept apart from config.ts's listener settings.
 */
import type { JunctionConfig } from './config.js';

export interface ConnectionLimits {
  /** RabbitMQ's consumer_max_per_channel (its default: infinity); 0 = no limit. */
  consumerMaxPerChannel: number;
  /**
   * Unacked deliveries an AMQP channel with prefetch 0, or a STOMP connection whose
   * subscriptions set no prefetch-count, holds at most; 0 = no limit (RabbitMQ sets none).
   */
  maxUnackedPerChannel: number;
  mqttMaxSubscriptions: number;
  stompMaxSubscriptions: number;
}

export const connectionLimitDefaults: ConnectionLimits = {
  // Far above what real clients use (Celery/kombu: one consumer per queue on one channel),
  // low enough that a channel's consumers cost a few MiB at most.
  consumerMaxPerChannel: 4096,
  // A client that sets no prefetch gets this many messages ahead of its acks: plenty to keep
  // it busy, and a bound on what one channel pins in memory (10,000 x the message size).
  maxUnackedPerChannel: 10_000,
  // Gateways and dashboards subscribe thousands of filters (Mosquitto and RabbitMQ set no
  // limit); 10,000 bindings cost a few MiB and bound what one client adds to the routing trie.
  mqttMaxSubscriptions: 10_000,
  stompMaxSubscriptions: 1024,
};

type Setting = { describe: string; apply: (c: JunctionConfig, v: string) => void };

const limit = (key: keyof ConnectionLimits, describe: string): Setting => ({
  describe,
  apply: (c, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got '${v}'`);
    c.limits = { ...c.limits, [key]: n };
  },
});

export const connectionLimitSettings: Record<string, Setting> = {
  'consumer-max-per-channel': limit(
    'consumerMaxPerChannel',
    'most consumers per AMQP channel (0 = no limit)',
  ),
  'max-unacked-per-channel': limit(
    'maxUnackedPerChannel',
    'most unacked messages per AMQP channel / STOMP connection without prefetch (0 = no limit)',
  ),
  'mqtt-max-subscriptions': limit(
    'mqttMaxSubscriptions',
    'most topic filters per MQTT client (0 = no limit)',
  ),
  'stomp-max-subscriptions': limit(
    'stompMaxSubscriptions',
    'most subscriptions per STOMP connection (0 = no limit)',
  ),
};
