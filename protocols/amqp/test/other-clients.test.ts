/**
 * Clients from other runtimes that RabbitMQ users run: Python's pika (Debian python3-pika)
 * and the C librabbitmq tools (Debian amqp-tools). npm test installs both (scripts/test-peers.sh).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPython, startAmqpServer, type TestServer } from '@junction/testkit';

const run = promisify(execFile);
let server: TestServer;
beforeAll(async () => {
  server = await startAmqpServer();
});
afterAll(async () => server.close());

describe('other AMQP clients', () => {
  it('pika: transactions, confirms, returns, get, consume, soft errors', async () => {
    const script = fileURLToPath(new URL('./clients/pika_client.py', import.meta.url));
    expect(await runPython(script, [String(server.port)], 20_000)).toEqual({
      tx_body: 'committed',
      tx_headers: { k: 'v' },
      after_rolled_back_ack: 1,
      after_committed_ack: 0,
      unroutable: 'returned',
      consumed: ['confirmed'],
      passive_missing: 404,
      conn_open: true,
    });
  });

  it('amqp-tools: amqp-publish then amqp-get', async () => {
    const url = `amqp://guest:guest@127.0.0.1:${server.port}`;
    await run('amqp-declare-queue', ['--url', url, '-q', 'c-tools']);
    await run('amqp-publish', ['--url', url, '-r', 'c-tools', '-b', 'from librabbitmq', '-C', 'text/plain']);
    const { stdout } = await run('amqp-get', ['--url', url, '-q', 'c-tools']);
    expect(stdout).toBe('from librabbitmq');
  });
});
