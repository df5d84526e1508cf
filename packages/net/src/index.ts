/**
 * @junction/net: the connection layer every protocol adapter stands on.
 *
 * Usage (what protocols/amqp and protocols/mqtt do):
 *
 *   export function createFooAdapter(broker, config, log): ProtocolAdapter {
 *     return serve({
 *       protocol: 'stomp', label: 'STOMP', log,
 *       handshakeTimeoutMs: config.handshakeTimeoutMs,        // accept -> CONNECTED, absolute
 *       websocket: { subprotocols: ['v12.stomp'], maxPayload, messagePerSend: true, textWhenUtf8: true },
 *       accept: (link) => new FooConnection(link, broker),    // must implement ServedConnection
 *     });
 *   }
 *
 *   class FooConnection implements ServedConnection {
 *     constructor(readonly link: Link, broker: BrokerApi) {
 *       link.onData((chunk) => this.parse(chunk));   // bytes in (TCP, TLS or WebSocket)
 *       link.onDrain(() => this.session?.resume());  // a send() returned false earlier
 *       link.onClose(() => void this.cleanup());
 *     }
 *     // after authentication:
 *     //   this.core = broker.connect(principal, vhost, info, link.control((r) => this.closeByBroker(r)));
 *     //   link.send(connectedFrame); link.handshakeDone();
 *     // before handling each publish:      link.publishing()   (blocks reads only during an alarm)
 *     // keepalive checks:                   link.isSilentFor(ms) (false while the broker paused reads)
 *     // ordering pauses of your own:        link.pause('packet', true/false)
 *     // writes:                             link.send(buf | bufs) -> false: wait for onDrain
 *     // close:                              link.end(lastFrame?) or link.destroy()
 *     describe() { return { phase: 'open', protocolVersion: 'STOMP 1.2', user, vhost }; }
 *     closeByBroker(reason) { ... }
 *   }
 *
 * Endpoints: { port, host, transport: 'tcp' | 'ws', path?, tls?: TlsSettings, origins? }.
 * `tls` makes a TCP endpoint TLS (AMQPS, MQTTS, STOMPS) and a WebSocket endpoint WSS;
 * adapter.reloadTls(settings) swaps the certificate for new connections.
 */
export {
  BROKER_SHUTDOWN,
  serve,
  type ServeOptions,
  type ServedAdapter,
  type ServedConnection,
  type ConnectionDescription,
} from './serve.js';
export { Link, type LinkHandler, type PauseReason, type Peer } from './link.js';
export type { WebSocketOptions } from './listener.js';
export { originAllowed } from './listener.js';
export { acceptsPeer, clientCertMode, secureContextOptions, serverOptions } from './tls.js';
export { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './deadline.js';
