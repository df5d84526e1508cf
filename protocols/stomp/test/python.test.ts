/**
 * stomp.py (Debian python3-stomp), the STOMP client Python users run, against the adapter.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./clients/stomppy_client.py', import.meta.url));
let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

it('stomp.py: 1.2/1.1/1.0 connect, receipts, acks, NACK, transactions, topics, ERROR', async () => {
  const { stdout } = await run('/usr/bin/python3', [script, String(server.port)], { timeout: 30_000 });
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  expect(r).toEqual({
    v12_body: 'hello from python',
    v12_header: 'yes',
    v12_redelivered: 'true',
    before_commit: 2,
    after_commit_body: 'in tx',
    v11_body: 'topic v11',
    v10_body: 'topic v10',
    error_message: 'Invalid destination',
  });
});
