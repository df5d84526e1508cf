import { until } from '@junction/testkit';
import { Broker, type Delivery, type DeliverySink, type Session, type Message } from '../src/index.js';

export async function brokerWithSession(): Promise<{
  broker: Broker;
  session: Session;
  connectionId: string;
}> {
  const broker = await Broker.start();
  const info = {
    id: `c-${Math.random()}`,
    protocol: 'internal' as const,
    remoteAddress: '127.0.0.1',
    remotePort: 1,
    localPort: 2,
  };
  const principal = await broker.authenticate({ username: 'guest', password: 'guest' }, info);
  const conn = broker.connect(principal, '/', info, { close: async () => {} });
  return { broker, session: conn.openSession(), connectionId: info.id };
}

export function collector(): DeliverySink & {
  got: Delivery[];
  cancelledWith: Error[];
  next(n?: number): Promise<Delivery[]>;
} {
  const got: Delivery[] = [];
  const cancelledWith: Error[] = [];
  return {
    got,
    cancelledWith,
    deliver(d) {
      got.push(d);
      return true;
    },
    cancelled(e) {
      cancelledWith.push(e);
    },
    async next(n = 1) {
      await until(() => got.length >= n, `${n} deliveries`);
      return got.slice(0, n);
    },
  };
}

export const msg = (
  exchange: string,
  routingKey: string,
  body: string,
  properties: Message['properties'] = {},
): Message => ({
  exchange,
  routingKey,
  body: Buffer.from(body),
  properties,
});

export const bodies = (ds: readonly Delivery[]): string[] => ds.map((d) => d.message.body.toString());
