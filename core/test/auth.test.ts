import { describe, expect, it } from 'vitest';
import { Broker, hashPassword, isLoopback, verifyPassword } from '../src/index.js';

const from = (remoteAddress: string) => ({
  id: 'c',
  protocol: 'internal' as const,
  remoteAddress,
  remotePort: 1,
  localPort: 2,
});

describe('users and permissions', () => {
  it('hashes passwords in RabbitMQ sha256 format', () => {
    const h = hashPassword('secret');
    expect(Buffer.from(h, 'base64')).toHaveLength(36);
    expect(verifyPassword('secret', h)).toBe(true);
    expect(verifyPassword('Secret', h)).toBe(false);
  });

  it('lets guest in from loopback only', async () => {
    const broker = await Broker.start();
    await expect(
      broker.authenticate({ username: 'guest', password: 'guest' }, from('127.0.0.1')),
    ).resolves.toMatchObject({ username: 'guest' });
    await expect(
      broker.authenticate({ username: 'guest', password: 'guest' }, from('::ffff:127.0.0.1')),
    ).resolves.toBeTruthy();
    await expect(
      broker.authenticate({ username: 'guest', password: 'guest' }, from('10.1.2.3')),
    ).rejects.toMatchObject({ replyCode: 403 });
    await expect(
      broker.authenticate({ username: 'guest', password: 'nope' }, from('127.0.0.1')),
    ).rejects.toMatchObject({ replyCode: 403 });
    expect([isLoopback('127.0.0.2'), isLoopback('::1'), isLoopback('192.168.0.1')]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('enforces configure/write/read permissions per vhost', async () => {
    const broker = await Broker.start();
    await broker.addVhost('prod');
    await broker.putUser('app', { password: 'pw', tags: [] });
    await broker.setPermission('prod', 'app', { configure: '^app\\.', write: '^app\\.', read: '^app\\.' });
    const p = await broker.authenticate({ username: 'app', password: 'pw' }, from('10.0.0.1'));
    expect(() => broker.connect(p, '/', from('10.0.0.1') as never, { close: async () => {} })).toThrow(
      /NOT_ALLOWED/,
    );
    const s = broker.connect(p, 'prod', from('10.0.0.1') as never, { close: async () => {} }).openSession();
    await s.declareQueue({ name: 'app.jobs' });
    await expect(s.declareQueue({ name: 'other' })).rejects.toMatchObject({ replyCode: 403 });
    // Publishing to the default exchange needs write on "amq.default".
    expect(() =>
      s.publish({ exchange: '', routingKey: 'app.jobs', properties: {}, body: Buffer.from('x') }),
    ).toThrow(/amq\.default/);
  });
});
