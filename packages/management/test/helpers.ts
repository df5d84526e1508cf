import { afterAll, beforeAll } from 'vitest';
import { Broker, type BrokerOptions, type ProtocolAdapter } from '@junction/core';
import { createAmqpAdapter } from '@junction/amqp';
import { listenLoopback, testLog } from '@junction/testkit';
import { createManagementServer, type ManagementOptions, type ManagementServer } from '../src/index.js';

export interface Harness {
  broker: Broker;
  mgmt: ManagementServer;
  base: string;
  amqp?: { adapter: ProtocolAdapter; url: string };
  /** Calls the API; credentials default to guest/guest, null sends none. */
  api(
    method: string,
    path: string,
    opts?: { body?: unknown; raw?: string; auth?: [string, string] | null; headers?: Record<string, string> },
  ): Promise<Res>;
  close(): Promise<void>;
}

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export async function start(
  o: { amqp?: boolean; broker?: BrokerOptions; mgmt?: Partial<ManagementOptions> } = {},
): Promise<Harness> {
  const log = testLog();
  const broker = await Broker.start(o.broker ?? {});
  const adapters: ProtocolAdapter[] = [];
  let amqp: Harness['amqp'];
  if (o.amqp) {
    const adapter = createAmqpAdapter(broker, {}, log);
    const [port] = await listenLoopback(adapter);
    adapters.push(adapter);
    amqp = { adapter, url: `amqp://guest:guest@127.0.0.1:${port!}` };
  }
  const mgmt = createManagementServer({
    broker,
    adapters: () => adapters,
    log,
    rates: { intervalMs: 100, windowMs: 2000 },
    ...o.mgmt,
  });
  const addr = await mgmt.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${addr.port}`;
  const h: Harness = {
    broker,
    mgmt,
    base,
    ...(amqp ? { amqp } : {}),
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      const auth = opts.auth === undefined ? ['guest', 'guest'] : opts.auth;
      if (auth) headers['authorization'] = `Basic ${Buffer.from(`${auth[0]}:${auth[1]}`).toString('base64')}`;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await r.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: r.status, headers: r.headers, text, json };
    },
    async close() {
      await mgmt.close();
      for (const a of adapters) await a.close({ drainMs: 0 });
      await broker.close();
    },
  };
  return h;
}

/**
 * A harness for a whole test file: started in `beforeAll`, closed in `afterAll`. The object
 * is there at once; its members can be used from the tests on.
 */
export function useHarness(o: Parameters<typeof start>[0] = {}): Harness {
  let started: Harness | undefined;
  beforeAll(async () => {
    started = await start(o);
  });
  afterAll(async () => {
    await started?.close();
  });
  const get = (): Harness => {
    if (!started) throw new Error('the harness starts in beforeAll');
    return started;
  };
  return {
    get broker() {
      return get().broker;
    },
    get mgmt() {
      return get().mgmt;
    },
    get base() {
      return get().base;
    },
    get amqp() {
      return get().amqp;
    },
    api: (...args) => get().api(...args),
    close: () => get().close(),
  };
}

export const enc = encodeURIComponent;
