/**
 * The node link against a peer in another process: a SIGSTOPped peer (socket open, nothing
 * read or sent) is declared down by missed heartbeats within the bound, and a peer killed and
 * restarted on the same port is redialed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { spawnLogged, until, type LoggedProcess } from '@junction/testkit';
import { LinkError } from '../src/index.js';
import { closeLinks, SECRET, startLink } from './link-fixture.js';

const NODE = fileURLToPath(new URL('./fixtures/link-node.ts', import.meta.url));
const ECHO = 1;
const children: LoggedProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.child.exitCode !== null || c.child.signalCode !== null) continue;
    c.child.kill('SIGCONT');
    c.child.kill('SIGKILL');
    await c.exited;
  }
  await closeLinks();
});

async function startNode(
  id: string,
  env: Record<string, string> = {},
): Promise<{ proc: LoggedProcess; port: number }> {
  const proc = spawnLogged([process.execPath, '--conditions=@junction/source', '--import', 'tsx', NODE], {
    env: { PATH: process.env['PATH'], LINK_NODE_ID: id, LINK_SECRET: SECRET, ...env },
  });
  children.push(proc);
  const line = await proc.line('listening', 30_000);
  return { proc, port: line['port'] as number };
}

describe('node link to another process', () => {
  it('declares a paused peer down within the heartbeat bound and rejects its pending requests', async () => {
    const heartbeatMs = 200;
    const misses = 3;
    const a = await startLink('a', { heartbeatMs, heartbeatMisses: misses });
    const { proc, port } = await startNode('b', { LINK_HEARTBEAT_MS: String(heartbeatMs) });
    a.link.connect('b', '127.0.0.1', port);
    await until(() => a.link.peer('b').up, 'b up', 15_000);
    expect((await a.link.peer('b').request(ECHO, Buffer.from('hi'), 5000)).toString()).toBe('b:hi');

    proc.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const pending = a.link
      .peer('b')
      .request(ECHO, Buffer.from('never answered'), 60_000)
      .catch((e: unknown) => e);
    await until(() => a.downs.length > 0, 'b declared down', 15_000);
    const downAfterMs = Date.now() - stoppedAt;
    // Silence past `misses` intervals, noticed at the next heartbeat tick: ~600-800 ms here.
    // The upper bound is generous for a loaded machine; the lower shows it was the heartbeat.
    expect(downAfterMs).toBeGreaterThanOrEqual(heartbeatMs * (misses - 1));
    expect(downAfterMs).toBeLessThan(heartbeatMs * (misses + 1) + 3000);
    expect(a.downs[0]).toMatchObject({
      peer: 'b',
      reason: expect.stringMatching(/^no heartbeat for \d+ ms/),
    });
    const err = await pending;
    expect(err).toBeInstanceOf(LinkError);
    expect((err as LinkError).code).toBe('PEER_DOWN');
    console.log(
      `paused peer declared down ${downAfterMs} ms after SIGSTOP (heartbeat ${heartbeatMs} ms x ${misses})`,
    );
  });

  it('does not take its own stalled event loop for a silent peer', async () => {
    const heartbeatMs = 200;
    const a = await startLink('a', { heartbeatMs, heartbeatMisses: 3 });
    // b pings every 200 ms too but bears a's silence longer: what is under test is a's judgment.
    const { port } = await startNode('b', {
      LINK_HEARTBEAT_MS: String(heartbeatMs),
      LINK_HEARTBEAT_MISSES: '50',
    });
    a.link.connect('b', '127.0.0.1', port);
    await until(() => a.link.peer('b').up, 'b up', 15_000);
    // Block this process (a long GC, a synchronous job) past the silence limit while b, in its
    // own process, goes on sending heartbeats: they wait in the socket, unread.
    const until0 = Date.now() + heartbeatMs * 6;
    while (Date.now() < until0) {
      /* busy */
    }
    expect((await a.link.peer('b').request(ECHO, Buffer.from('alive'), 5000)).toString()).toBe('b:alive');
    expect(a.downs).toEqual([]);
  });

  it('redials a peer killed and restarted on the same port', async () => {
    const a = await startLink('a', { reconnect: { minMs: 20, maxMs: 200 } });
    const first = await startNode('b');
    a.link.connect('b', '127.0.0.1', first.port);
    await until(() => a.link.peer('b').up, 'b up', 15_000);

    first.proc.child.kill('SIGKILL');
    const killedAt = Date.now();
    await until(() => a.downs.length === 1, 'b down at once', 15_000);
    console.log(`killed peer declared down ${Date.now() - killedAt} ms after SIGKILL`);
    expect(a.link.peer('b').up).toBe(false);

    await startNode('b', { LINK_PORT: String(first.port) });
    await until(() => a.link.peer('b').up, 'b up again', 15_000);
    expect((await a.link.peer('b').request(ECHO, Buffer.from('back'), 5000)).toString()).toBe('b:back');
    expect(a.ups).toEqual(['b', 'b']);
  });
});
