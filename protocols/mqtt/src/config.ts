import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from '@junction/net';
import type { RedirectMode } from './redirection.js';

export interface MqttConfig {
  /** Largest packet accepted once connected, bytes (RabbitMQ: 256 MiB; Mosquitto: unlimited). */
  maxPacketSize: number;
  /** Largest packet accepted before CONNECT is authenticated, as RabbitMQ (64 KiB). */
  maxPacketSizeBeforeConnect: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
  /** Most unacknowledged QoS 1/2 messages in flight to one client (its session prefetch). */
  maxInflight: number;
  /**
   * MQTT 5 Receive Maximum announced in CONNACK: most QoS 1/2 publishes a client may have
   * unacknowledged; one more gets DISCONNECT 0x93 (MQTT-3.3.4-7).
   */
  receiveMaximum: number;
  /** MQTT 5 Topic Alias Maximum announced in CONNACK: how many topic aliases a client may set; the server sends it no more than this many either. */
  topicAliasMaximum: number;
  /**
   * Longest a session outlives its connection, seconds: a longer MQTT 5 Session Expiry Interval
   * (0xFFFFFFFF, never, included) is lowered to it and CONNACK says so; an MQTT 3.1.1 persistent
   * session (clean session 0) ends that long after its connection too. 0xFFFFFFFF = no cap.
   */
  maxSessionExpiry: number;
  /** Most concurrent MQTT connections; 0 = no limit. Further clients get CONNACK 3. */
  maxConnections: number;
  /**
   * Most topic filters one client subscribes to at once (each is a core queue and consumer);
   * a filter past it gets SUBACK failure 0x80. 0 = no limit.
   */
  maxSubscriptions: number;
  /** Accept to CONNACK, absolute (RabbitMQ's handshake_timeout): a slow or silent CONNECT is closed. */
  handshakeTimeoutMs: number;
  /** Clients without a username connect as anonymousUser; off by default. */
  allowAnonymous: boolean;
  anonymousUser: { username: string; password: string };
  /**
   * A CONNECT without username and password on a TLS connection whose client certificate
   * verified logs in as the user the certificate names (RabbitMQ's mqtt.ssl_cert_login; the
   * listener's certLoginFrom picks the field); on by default.
   */
  certLogin: boolean;
  /** The vhost of usernames without a `vhost:` prefix. */
  defaultVhost: string;
  /**
   * MQTT 5 Server Reference (e.g. `other-node:1883`) told to clients sent away: at shutdown, and
   * to every CONNECT while `redirect` is on. '' = none.
   */
  serverReference: string;
  /** Send every MQTT 5 CONNECT to serverReference: CONNACK 0x9C (temporary) or 0x9D (permanent). */
  redirect: RedirectMode;
}

export const defaultMqttConfig: MqttConfig = {
  maxPacketSize: 16 * 1024 * 1024,
  maxPacketSizeBeforeConnect: 64 * 1024,
  maxTopicLevels: 128,
  maxInflight: 100,
  receiveMaximum: 65535,
  topicAliasMaximum: 64,
  maxSessionExpiry: 7 * 24 * 3600, // a week; EMQX caps at 2 h by default, Mosquitto not at all
  maxConnections: 0,
  maxSubscriptions: 10_000, // RabbitMQ and Mosquitto set none; a bound on one client's bindings
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  allowAnonymous: false,
  anonymousUser: { username: 'guest', password: 'guest' },
  certLogin: true,
  defaultVhost: '/',
  serverReference: '',
  redirect: 'off',
};
