/** stompit, the STOMP client Node.js users run, connected the way the tests need it. */
import stompit from 'stompit';
import type Client from 'stompit/lib/Client.js';

export type StompitClient = Client;

/**
 * A stompit client on 127.0.0.1:`port`, vhost `/`, guest unless `headers` say otherwise,
 * heart-beats off (a test that wants them asks). Rejects with the server's ERROR when the
 * CONNECT is refused. Later socket errors are the test's to observe on the client.
 */
export function stompitClient(port: number, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = stompit.connect(
      {
        host: '127.0.0.1',
        port,
        connectHeaders: { host: '/', login: 'guest', passcode: 'guest', 'heart-beat': '0,0', ...headers },
      },
      (err, client) => (err ? reject(err) : resolve(client)),
    );
    c.on('error', () => {});
  });
}
