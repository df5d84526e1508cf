/**
 * MQTT 5 server redirection (4.11): the Server Reference (0x1C) an operator configures is told
 * to clients the node sends away, so they reconnect there instead of retrying this node. While
 * the node shuts down (or drains) a connected client gets DISCONNECT 0x8B with it and a client
 * still connecting CONNACK 0x9C (use another server); with `redirect` on, every MQTT 5 CONNECT
 * gets CONNACK 0x9C (temporary) or 0x9D (permanent: server moved) with it. MQTT 3.1.1 has no
 * redirection: those clients get CONNACK 3 (server unavailable).
 */
import type { MqttConfig } from './config.js';
import { Reason } from './reason-codes.js';
import type { Properties } from './properties.js';

export type RedirectMode = 'off' | 'temporary' | 'permanent';

/** The CONNACK reason that sends every new client elsewhere, or undefined: none. */
export function connectRedirect(cfg: MqttConfig): number | undefined {
  if (cfg.serverReference === '' || cfg.redirect === 'off') return undefined;
  return cfg.redirect === 'permanent' ? Reason.ServerMoved : Reason.UseAnotherServer;
}

/**
 * A server-sent close as the packet carries it: a client still connecting gets CONNACK, where
 * 0x8B is no valid reason (3.2.2.2), so shutting down is 0x9C with a reference, else 0x88.
 */
export function closingReason(cfg: MqttConfig, code: number, connecting: boolean): number {
  if (!connecting || code !== Reason.ServerShuttingDown) return code;
  return cfg.serverReference === '' ? Reason.ServerUnavailable : Reason.UseAnotherServer;
}

/** The Server Reference property for a client sent away with `code`, if one is configured. */
export function referenceFor(cfg: MqttConfig, code: number): Properties | undefined {
  if (cfg.serverReference === '') return undefined;
  const sendsAway =
    code === Reason.ServerShuttingDown || code === Reason.UseAnotherServer || code === Reason.ServerMoved;
  return sendsAway ? { serverReference: cfg.serverReference } : undefined;
}
