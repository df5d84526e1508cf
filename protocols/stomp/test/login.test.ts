/**
 * Who a CONNECT without a login becomes, tried as an attacker on loopback would: by default
 * nobody (ERROR "Access refused"); with anonymous login enabled, the configured user, which
 * must not be an administrator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startStompServer, type WsTestServer } from '@junction/testkit';
import { rawStompClient } from './helpers.js';

let server: WsTestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A CONNECT from 127.0.0.1 that carries no login nor passcode. */
async function anonymousConnect(s: WsTestServer, version = '1.2') {
  const c = await rawStompClient(s.port);
  c.write(`CONNECT\naccept-version:${version}\nhost:/\n\n\0`);
  const f = await c.next();
  return { c, f };
}

describe('anonymous STOMP login', () => {
  it('is refused by default, from loopback too, in every version: never guest', async () => {
    server = await startStompServer();
    for (const version of ['1.0', '1.1', '1.2']) {
      const { c, f } = await anonymousConnect(server, version);
      expect(f.command).toBe('ERROR');
      expect(f.headers['message']).toBe('Access refused');
      // What an attacker would do next gets nowhere: the connection is closed.
      c.write('SUBSCRIBE\nid:1\ndestination:/queue/secrets\n\n\0');
      await c.closed;
    }
    expect([...server.adapter.connections()].filter((s) => s.user !== undefined)).toEqual([]);
    expect(server.broker.connections.size).toBe(0);
    expect(server.broker.vhosts.get('/')!.queues.has('secrets')).toBe(false);
  });

  it('when enabled, maps to the configured user with only that user’s permissions', async () => {
    server = await startStompServer({ anonymousUser: { login: 'device', passcode: 'device-pw' } });
    await server.broker.putUser('device', { password: 'device-pw' });
    await server.broker.setPermission('/', 'device', {
      configure: '^dev\\.',
      write: '^dev\\.',
      read: '^dev\\.',
    });
    const { c, f } = await anonymousConnect(server);
    expect(f.command).toBe('CONNECTED');
    expect([...server.adapter.connections()].map((s) => s.user)).toEqual(['device']);
    c.write('SUBSCRIBE\nid:1\ndestination:/queue/dev.q\nreceipt:ok\n\n\0');
    await c.next('RECEIPT');
    c.write('SUBSCRIBE\nid:2\ndestination:/queue/admin-only\n\n\0');
    const e = await c.next('ERROR');
    expect(e.headers['message']).toMatch(/ACCESS_REFUSED/);
    await c.closed;
  });

  it('when enabled with an administrator (guest), refuses the CONNECT', async () => {
    server = await startStompServer({ anonymousUser: { login: 'guest', passcode: 'guest' } });
    const { c, f } = await anonymousConnect(server);
    expect(f.command).toBe('ERROR');
    expect(f.headers['message']).toBe('Access refused');
    expect(f.body.toString()).toContain('administrator');
    await c.closed;
    expect(server.broker.connections.size).toBe(0);
  });

  it('an explicit login is unaffected by the anonymous setting', async () => {
    server = await startStompServer({ anonymousUser: { login: 'device', passcode: 'device-pw' } });
    const c = await rawStompClient(server.port);
    c.write('CONNECT\naccept-version:1.2\nlogin:guest\npasscode:guest\n\n\0');
    await c.next('CONNECTED');
    expect([...server.adapter.connections()].map((s) => s.user)).toEqual(['guest']);
    c.socket.destroy();
  });
});
