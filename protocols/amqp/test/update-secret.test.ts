/**
 * connection.update-secret (RabbitMQ's extension for rotating OAuth tokens; amqplib's
 * updateSecret): the new secret is checked for the connection's own user.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmqpServer, type TestServer } from '@junction/testkit';

let server: TestServer;
beforeAll(async () => {
  server = await startAmqpServer();
  await server.broker.putUser('rotator', { password: 'token-1' });
  await server.broker.setPermission('/', 'rotator', { configure: '.*', write: '.*', read: '.*' });
});
afterAll(async () => server.close());

const connectRotator = () => amqp.connect(`amqp://rotator:token-1@127.0.0.1:${server.port}`);

describe('connection.update-secret', () => {
  it('accepts a new secret that authenticates the same user, and the connection goes on', async () => {
    const c = await connectRotator();
    await server.broker.putUser('rotator', { password: 'token-2' });
    await c.updateSecret(Buffer.from('token-2'), 'token rotated');
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('after rotation'));
    const got = await new Promise<string>(
      (resolve) => void ch.consume(queue, (m) => m && resolve(m.content.toString()), { noAck: true }),
    );
    expect(got).toBe('after rotation');
    await c.close();
    await server.broker.putUser('rotator', { password: 'token-1' });
  });

  it('closes the connection with 530 NOT_ALLOWED when the new secret is refused', async () => {
    const c = await connectRotator();
    const closed = new Promise<Error>((resolve) => c.once('error', resolve));
    // amqplib leaves the call pending when the server answers with a connection close; what
    // matters is that it never reports the rotation as accepted.
    const outcome = c.updateSecret(Buffer.from('not-the-token'), 'bad rotation').then(
      () => 'accepted',
      () => 'refused',
    );
    const err = await closed;
    const pending = new Promise<string>((resolve) => setTimeout(() => resolve('pending'), 100));
    expect(await Promise.race([outcome, pending])).not.toBe('accepted');
    expect(err.message).toMatch(/530/);
    expect(err.message).toMatch(/NOT_ALLOWED/);
  });
});
