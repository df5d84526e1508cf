/** Adapter configuration and its defaults (chosen after RabbitMQ's and ActiveMQ's STOMP defaults). */

export interface StompConfig {
  /** Largest frame accepted (command + headers + body), bytes. RabbitMQ and ActiveMQ allow big bodies; 16 MiB by default. */
  maxFrameSize: number;
  /** Most headers in one frame (ActiveMQ: 1000). */
  maxHeaders: number;
  /** Longest header line (name + ':' + value, escaped), bytes (ActiveMQ: 10 KiB). */
  maxHeaderLength: number;
  /** Most concurrent subscriptions per connection. */
  maxSubscriptions: number;
  /**
   * The server's heart-beat offer [cx, cy] in ms: the server can send every cx, wants to
   * receive every cy. Negotiated with the client's per STOMP 1.1 (max of both, 0 = off).
   */
  heartbeat: readonly [number, number];
  /** Accept to CONNECTED, absolute (bytes trickling in do not extend it); 0 disables. */
  handshakeTimeoutMs: number;
  /**
   * Who a CONNECT without `login` logs in as (RabbitMQ's stomp.default_user); null (the
   * default) refuses it. Never an administrator: such a CONNECT is refused.
   */
  anonymousUser: { login: string; passcode: string } | null;
  /**
   * A CONNECT without `login` and `passcode` on a TLS connection whose client certificate
   * verified logs in as the user the certificate names (RabbitMQ's stomp.ssl_cert_login; the
   * listener's certLoginFrom picks the field), before anonymous login is considered; on by
   * default, as MQTT's.
   */
  certLogin: boolean;
  /** Vhost for a missing or unknown `host` header. */
  defaultVhost: string;
  /** Frames buffered while an earlier frame's async work runs, before reading pauses. */
  maxPendingFrames: number;
}

export const defaultStompConfig: StompConfig = {
  maxFrameSize: 16 * 1024 * 1024,
  maxHeaders: 1000,
  maxHeaderLength: 10 * 1024,
  maxSubscriptions: 1024,
  heartbeat: [10_000, 10_000],
  handshakeTimeoutMs: 10_000,
  anonymousUser: null,
  certLogin: true,
  defaultVhost: '/',
  maxPendingFrames: 256,
};
