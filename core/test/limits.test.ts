/**
 * RabbitMQ's vhost and user limits in the core (every protocol opens connections, channels
 * and queues through it), and the broker's ceiling on unacked deliveries of a session whose
 * client set no prefetch.
 */
import { describe, expect, it } from 'vitest';
import { Broker, BrokerError, MemoryStore, type ConnectionInfo } from '../src/index.js';
import { until } from '@junction/testkit';
import { collector, msg } from './helpers.js';

class DurableMemoryStore extends MemoryStore {
  override readonly capabilities = { durable: true };
}

let n = 0;
const info = (protocol: ConnectionInfo['protocol'] = 'amqp'): ConnectionInfo => ({
  id: `c${++n}`,
  protocol,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localPort: 2,
});

async function connect(
  broker: Broker,
  vhost = '/',
  user = 'guest',
  password = 'guest',
  protocol?: ConnectionInfo['protocol'],
) {
  const i = info(protocol);
  const p = await broker.authenticate({ username: user, password }, i);
  return broker.connect(p, vhost, i, { close: async () => {} });
}

function refusal(fn: () => unknown): BrokerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BrokerError) return err;
    throw err;
  }
  throw new Error('expected a BrokerError');
}

describe('vhost and user limits', () => {
  it("vhost max-connections refuses the next connection with RabbitMQ's 530 text and frees a slot on close", async () => {
    const broker = await Broker.start();
    await broker.setVhostLimit('/', 'max-connections', 2);
    const a = await connect(broker);
    await connect(broker);
    const err = await connect(broker).then(
      () => null,
      (e: unknown) => e as BrokerError,
    );
    expect(err?.replyCode).toBe(530);
    expect(err?.subject).toBe('limit-reached');
    expect(err?.message).toBe(
      "NOT_ALLOWED - access to vhost '/' refused for user 'guest': connection limit (2) is reached",
    );
    await a.close();
    await connect(broker);
    // Management's per-request connections are not counted nor refused.
    await connect(broker, '/', 'guest', 'guest', 'http');
    // Clearing the limit (RabbitMQ: a negative value) lets everyone in again.
    await broker.setVhostLimit('/', 'max-connections', -1);
    await connect(broker);
  });

  it('vhost max-queues refuses a new queue with 406 and still lets existing ones be redeclared', async () => {
    const broker = await Broker.start();
    const s = (await connect(broker)).openSession();
    await s.declareQueue({ name: 'q1' });
    await broker.setVhostLimit('/', 'max-queues', 1);
    await s.declareQueue({ name: 'q1' });
    const err = await s.declareQueue({ name: 'q2' }).then(
      () => null,
      (e: unknown) => e as BrokerError,
    );
    expect(err?.replyCode).toBe(406);
    expect(err?.message).toBe(
      "PRECONDITION_FAILED - cannot declare queue 'q2': queue limit in virtual host '/' (1) is reached",
    );
    await broker.setVhostLimit('/', 'max-queues', 0);
    await expect(s.declareQueue({ name: '' })).rejects.toThrow(/queue limit/);
  });

  it('user max-connections and max-channels count across connections', async () => {
    const broker = await Broker.start();
    await broker.putUser('app', { password: 'pw' });
    await broker.setPermission('/', 'app', { configure: '.*', write: '.*', read: '.*' });
    await broker.setUserLimit('app', 'max-connections', 2);
    await broker.setUserLimit('app', 'max-channels', 3);
    const c1 = await connect(broker, '/', 'app', 'pw');
    const c2 = await connect(broker, '/', 'app', 'pw');
    await expect(connect(broker, '/', 'app', 'pw')).rejects.toThrow(
      "NOT_ALLOWED - Connection refused for user 'app': user connection limit (2) is reached",
    );
    await connect(broker); // another user is not affected
    c1.openSession();
    const s2 = c1.openSession();
    c2.openSession();
    const err = refusal(() => c2.openSession());
    expect(err.replyCode).toBe(530);
    expect(err.message).toBe(
      "NOT_ALLOWED - number of channels opened for user 'app' has reached the maximum allowed user limit of (3)",
    );
    await s2.close();
    c2.openSession();
  });

  it('refuses unknown limit names and non-integers', async () => {
    const broker = await Broker.start();
    await expect(broker.setVhostLimit('/', 'max-channels', 1)).rejects.toThrow(/unknown vhost limit/);
    await expect(broker.setUserLimit('guest', 'max-queues', 1)).rejects.toThrow(/unknown user limit/);
    await expect(broker.setVhostLimit('/', 'max-queues', 1.5)).rejects.toThrow(/must be an integer/);
    await expect(broker.setUserLimit('nobody', 'max-channels', 1)).rejects.toThrow(/NOT_FOUND/);
  });

  it('limits are stored with their vhost and user and survive a restart; a password change keeps them', async () => {
    const store = new DurableMemoryStore();
    const b1 = await Broker.start({ store });
    await b1.addVhost('tenant');
    await b1.setVhostLimit('tenant', 'max-queues', 5);
    await b1.setVhostLimit('tenant', 'max-connections', 7);
    await b1.setUserLimit('guest', 'max-channels', 9);
    await b1.putUser('guest', { password: 'guest2' });
    await b1.close();
    const b2 = await Broker.start({ store });
    expect(b2.vhost('tenant').limits.toJSON()).toEqual({ 'max-queues': 5, 'max-connections': 7 });
    expect(b2.userLimits('guest')).toEqual({ 'max-channels': 9 });
    await b2.setVhostLimit('tenant', 'max-queues', null);
    await b2.close();
    const b3 = await Broker.start({ store });
    expect(b3.vhost('tenant').limits.toJSON()).toEqual({ 'max-connections': 7 });
  });
});

describe('unacked ceiling of a session without prefetch', () => {
  it('holds at most maxUnackedPerSession deliveries until some are acked; a client prefetch overrides it', async () => {
    const broker = await Broker.start({ maxUnackedPerSession: 5 });
    const s = (await connect(broker)).openSession();
    await s.declareQueue({ name: 'a' });
    await s.declareQueue({ name: 'b' });
    for (let i = 0; i < 20; i++) {
      s.publish(msg('', 'a', `a${i}`));
      s.publish(msg('', 'b', `b${i}`));
    }
    const ca = collector();
    const cb = collector();
    await s.consume('a', {}, ca);
    await s.consume('b', {}, cb);
    const total = () => ca.got.length + cb.got.length;
    /** Waits until `n` deliveries arrived, then a few more turns to see that no more do. */
    const settlesAt = async (want: number) => {
      await until(() => total() >= want, `${want} deliveries`);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(total()).toBe(want);
    };
    await settlesAt(5);
    // Acking frees credit for every consumer of the session, not only the acked one's queue.
    const tags = [...ca.got, ...cb.got].map((d) => d.deliveryTag).sort((x, y) => x - y);
    s.settle(tags[4]!, 'ack', true);
    await settlesAt(10);
    // basic.qos global: the client's own limit applies instead.
    s.qos(12, true);
    await settlesAt(17); // 5 unacked after the ack, up to 12
  });
});
