/** stompit, the STOMP client Node.js users run, connected the way the tests need it. */
import stompit from 'stompit';
import type Client from 'stompit/lib/Client.js';

export type StompitClient = Client;

export interface StompitOptions {
  /** STOMP over TLS, the server checked against `ca`; `cert` is the client's certificate. */
  tls?: { ca: Buffer; cert?: { cert: Buffer; key: Buffer } | undefined };
  /** A CONNECT without login and passcode (a client-certificate login), unless `headers` add them. */
  noLogin?: boolean;
}

/**
 * A stompit client on 127.0.0.1:`port`, vhost `/`, guest unless `headers` or `noLogin` say
 * otherwise, heart-beats off (a test that wants them asks). Rejects with the server's ERROR
 * when the CONNECT is refused. Later socket errors are the test's to observe on the client.
 */
export function stompitClient(
  port: number,
  headers: Record<string, string> = {},
  opts: StompitOptions = {},
): Promise<Client> {
  const login = opts.noLogin ? {} : { login: 'guest', passcode: 'guest' };
  const tls = opts.tls
    ? {
        ssl: true,
        ca: [opts.tls.ca],
        ...(opts.tls.cert ? { cert: opts.tls.cert.cert, key: opts.tls.cert.key } : {}),
      }
    : {};
  return new Promise((resolve, reject) => {
    const c = stompit.connect(
      {
        host: '127.0.0.1',
        port,
        ...tls,
        connectHeaders: { host: '/', ...login, 'heart-beat': '0,0', ...headers },
      } as stompit.connect.ConnectOptions,
      (err, client) => (err ? reject(err) : resolve(client)),
    );
    c.on('error', () => {});
  });
}
