/**
 * Issue 14: clearing a retained message needs write permission, as setting it does. The MQTT
 * adapter also refuses the empty retained publish (protocols/mqtt/test/attacks.test.ts); this
 * holds the core's own `Connection.retain` to it, whatever adapter calls it.
 */
import { describe, expect, it } from 'vitest';
import { Broker } from '../src/index.js';

const info = (id: string) => ({
  id,
  protocol: 'internal' as const,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localPort: 2,
});

describe('Connection.retain', () => {
  it('a read-only user can neither set nor clear a retained message', async () => {
    const broker = await Broker.start();
    await broker.putUser('reader', { password: 'r', tags: [] });
    await broker.setPermission('/', 'reader', { configure: '', write: '', read: '.*' });
    const connect = async (username: string, password: string) =>
      broker.connect(await broker.authenticate({ username, password }, info(username)), '/', info(username), {
        close: async () => {},
      });
    const owner = await connect('guest', 'guest');
    const reader = await connect('reader', 'r');
    const msg = {
      exchange: 'amq.topic',
      routingKey: 'plant.valve',
      properties: {},
      body: Buffer.from('open'),
    };
    await owner.retain('plant.valve', msg);

    await expect(reader.retain('plant.valve', null)).rejects.toMatchObject({ replyCode: 403 });
    await expect(reader.retain('plant.valve', { ...msg, body: Buffer.from('x') })).rejects.toMatchObject({
      replyCode: 403,
    });
    expect(owner.retainedMatching('plant.valve').map((r) => r.message.body.toString())).toEqual(['open']);
    // The owner, who may write, clears it.
    await owner.retain('plant.valve', null);
    expect(owner.retainedMatching('#')).toEqual([]);
    await broker.close();
  });
});
