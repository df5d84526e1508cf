/**
 * The MQTT adapter: @junction/net's listeners (TCP, TLS, WebSocket on a path such as /ws) and
 * registry, the client-id registry for takeover, and one sweep timer for every connection's
 * keepalive (no timer per connection: 10,000 devices cost one interval). The CONNECT deadline
 * is the layer's absolute handshake deadline.
 */
import type { Logger } from 'pino';
import type { BrokerApi } from '@junction/core';
import { serve, type ServedAdapter } from '@junction/net';
import { defaultMqttConfig, type MqttConfig } from './config.js';
import { MqttConnection, type MqttContext } from './connection.js';
import { Reason } from './reason-codes.js';

const SWEEP_MS = 250;

export function createMqttAdapter(
  broker: BrokerApi,
  config: Partial<MqttConfig>,
  log: Logger,
): ServedAdapter<MqttConnection> {
  const cfg: MqttConfig = { ...defaultMqttConfig, ...config };
  const byClientId = new Map<string, MqttConnection>();
  const registryKey = (c: MqttConnection): string => `${c.vhost ?? ''}\u0000${c.clientId}`;

  const ctx: MqttContext = {
    broker,
    config: cfg,
    log,
    connectionCount: () => adapter.registry.size,
    claim(conn) {
      const key = registryKey(conn);
      const previous = byClientId.get(key);
      byClientId.set(key, conn);
      return previous;
    },
    release(conn) {
      const key = registryKey(conn);
      if (byClientId.get(key) === conn) byClientId.delete(key);
    },
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of adapter.registry.values()) {
      // MQTT-3.1.2-24: one and a half keepalive periods of silence end the connection.
      if (c.state === 'open' && c.keepaliveMs > 0 && c.link.isSilentFor(c.keepaliveMs * 1.5, now)) {
        void c.close('keepalive timeout', { will: true, code: Reason.KeepAliveTimeout });
      }
    }
  }, SWEEP_MS);
  sweep.unref();

  const adapter = serve({
    protocol: 'mqtt',
    label: 'MQTT',
    log,
    handshakeTimeoutMs: cfg.handshakeTimeoutMs,
    // Browsers' MQTT clients ask for the "mqtt" subprotocol (older ones "mqttv3.1").
    websocket: { subprotocols: ['mqtt', 'mqttv3.1'], maxPayload: cfg.maxPacketSize + 5 },
    accept: (link) => new MqttConnection(link, ctx),
    closed: () => {
      clearInterval(sweep);
    },
  });
  return adapter;
}
