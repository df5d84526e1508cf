/**
 * One AMQP server for a test file and the amqplib connections its tests open, each closed
 * when its test ends (pass or fail).
 */
import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startAmqpServer, type TestServer } from '@junction/testkit';

export interface AmqplibFixture {
  /** The server, once `beforeAll` has started it. */
  readonly server: TestServer;
  /**
   * An amqplib connection (`url` defaults to the server's). Its `error` events are the
   * tests' business (they watch channels and close codes), so the connection gets a
   * listener that keeps an expected server close from failing the run.
   */
  connect(opts?: Parameters<typeof amqp.connect>[1], url?: string): Promise<ChannelModel>;
}

export function amqplibFixture(config: Parameters<typeof startAmqpServer>[0] = {}): AmqplibFixture {
  let server: TestServer | undefined;
  const open: ChannelModel[] = [];
  beforeAll(async () => {
    server = await startAmqpServer(config);
  });
  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => server?.close());
  const fx: AmqplibFixture = {
    get server() {
      if (!server) throw new Error('the AMQP server starts in beforeAll');
      return server;
    },
    async connect(opts = {}, url = fx.server.url) {
      const c = await amqp.connect(url, opts);
      c.on('error', () => {});
      open.push(c);
      return c;
    },
  };
  return fx;
}
