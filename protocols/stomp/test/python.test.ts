/**
 * stomp.py (Debian python3-stomp), the STOMP client Python users run, against the adapter.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runPython, startStompServer, type WsTestServer } from '@junction/testkit';

const script = fileURLToPath(new URL('./clients/stomppy_client.py', import.meta.url));
let server: WsTestServer;

beforeAll(async () => {
  server = await startStompServer();
});
afterAll(async () => {
  await server.close();
});

it('stomp.py: 1.2/1.1/1.0 connect, receipts, acks, NACK, transactions, topics, ERROR', async () => {
  expect(await runPython(script, [String(server.port)])).toEqual({
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

it('stomp.py: capitalised booleans (requeue=False, durable=True, persistent=True, exclusive=True) count', async () => {
  const booleans = fileURLToPath(new URL('./clients/stomppy_booleans.py', import.meta.url));
  expect(await runPython(booleans, [String(server.port)], 60_000)).toEqual({
    after_nack: 'next',
    durable_body: 'while away',
    durable_persistent: 'true',
    persistent_body: 'while away',
    persistent_persistent: 'true',
    second_consumer: expect.stringMatching(/exclusive use/),
  });
  // The poison message is gone for good, not parked somewhere to come back.
  expect(server.broker.vhosts.get('/')!.queues.get('py-poison')!.messageCount).toBe(0);
});
