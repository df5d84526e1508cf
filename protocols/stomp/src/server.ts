/**
 * The STOMP adapter: @junction/net's listeners (TCP, TLS, WebSocket with its Origin check)
 * and registry, one StompConnection per accepted link.
 */
import type { Logger } from 'pino';
import type { BrokerApi } from '@junction/core';
import { serve, type ServedAdapter } from '@junction/net';
import { defaultStompConfig, type StompConfig } from './config.js';
import { StompConnection } from './connection.js';

/** Sub-protocols a STOMP WebSocket client may ask for (stompjs, RabbitMQ web-stomp). */
const WS_PROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp', 'stomp'];

export function createStompAdapter(
  broker: BrokerApi,
  config: Partial<StompConfig>,
  log: Logger,
): ServedAdapter<StompConnection> {
  const cfg: StompConfig = { ...defaultStompConfig, ...config };
  return serve({
    protocol: 'stomp',
    label: 'STOMP',
    log,
    handshakeTimeoutMs: cfg.handshakeTimeoutMs,
    websocket: {
      subprotocols: WS_PROTOCOLS,
      maxPayload: cfg.maxFrameSize + 64 * 1024,
      // One STOMP frame per WebSocket message, as text when it is UTF-8 (browser clients).
      messagePerSend: true,
      textWhenUtf8: true,
    },
    accept: (link) => new StompConnection(link, broker, cfg, log),
  });
}
