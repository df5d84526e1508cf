/**
 * The AMQP 0-9-1 adapter: @junction/net's listeners and registry, one AmqpConnection per
 * accepted link.
 */
import type { Logger } from 'pino';
import type { BrokerApi } from '@junction/core';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, serve, type ServedAdapter } from '@junction/net';
import { AmqpConnection, AUTH_MECHANISMS, type AmqpConfig } from './connection.js';

export const defaultAmqpConfig: AmqpConfig = {
  frameMax: 131072,
  channelMax: 2047,
  heartbeat: 60,
  maxMessageSize: 128 * 1024 * 1024,
  // RabbitMQ: infinity. Bounded so one channel cannot grow the broker without end, and far
  // above what real clients use (Celery/kombu: one consumer per queue on one channel).
  consumerMaxPerChannel: 4096,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  authMechanisms: AUTH_MECHANISMS,
};

const VERSION = '0.1.0';

export function createAmqpAdapter(
  broker: BrokerApi,
  config: Partial<AmqpConfig>,
  log: Logger,
): ServedAdapter<AmqpConnection> {
  const cfg: AmqpConfig = { ...defaultAmqpConfig, ...config };
  return serve({
    protocol: 'amqp',
    label: 'AMQP 0-9-1',
    log,
    handshakeTimeoutMs: cfg.handshakeTimeoutMs,
    accept: (link) => new AmqpConnection(link, broker, cfg, log, VERSION),
  });
}
