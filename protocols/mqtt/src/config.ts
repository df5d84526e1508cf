export interface MqttConfig {
  /** Largest packet accepted once connected, bytes (RabbitMQ: 256 MiB; Mosquitto: unlimited). */
  maxPacketSize: number;
  /** Largest packet accepted before CONNECT is authenticated, as RabbitMQ (64 KiB). */
  maxPacketSizeBeforeConnect: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
  /** Most unacknowledged QoS 1/2 messages in flight to one client (its session prefetch). */
  maxInflight: number;
  /** Most concurrent MQTT connections; 0 = no limit. Further clients get CONNACK 3. */
  maxConnections: number;
  /** A connection that sends no CONNECT within this time is closed. */
  connectTimeoutMs: number;
  /** Clients without a username connect as anonymousUser; off by default. */
  allowAnonymous: boolean;
  anonymousUser: { username: string; password: string };
  /** The vhost of usernames without a `vhost:` prefix. */
  defaultVhost: string;
}

export const defaultMqttConfig: MqttConfig = {
  maxPacketSize: 16 * 1024 * 1024,
  maxPacketSizeBeforeConnect: 64 * 1024,
  maxTopicLevels: 128,
  maxInflight: 100,
  maxConnections: 0,
  connectTimeoutMs: 10_000,
  allowAnonymous: false,
  anonymousUser: { username: 'guest', password: 'guest' },
  defaultVhost: '/',
};
