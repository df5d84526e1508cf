/** The `junction` command as an operator runs it: a separate process, real signals. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const children: ReturnType<typeof spawn>[] = [];

// A failed test must not leave a broker running.
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function startCli(args: string[]) {
  // Run the TypeScript sources directly (tsx), resolving workspace packages to their src/.
  const child = spawn(process.execPath, ['--conditions=@junction/source', '--import', 'tsx', main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JUNCTION_LOG_LEVEL: 'info' },
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ raw: l });
    }
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, lines, exited };
}

async function waitFor<T>(f: () => T | undefined, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('junction CLI', () => {
  it('starts, serves, and on SIGTERM closes clients with 320 and exits 0', async () => {
    const { child, lines, exited } = startCli([
      'start',
      '--amqp-port',
      '0',
      '--amqp-host',
      '127.0.0.1',
      '--mqtt-port',
      'off',
      '--stomp-port',
      'off',
      '--http-port',
      'off',
      '--storage',
      'memory',
    ]);
    const started = await waitFor(
      () => lines.find((l) => l['msg'] === 'Junction started'),
      'the started log line',
    );
    const port = (started['ports'] as { amqp: number }).amqp;
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    conn.on('error', () => {});
    const closed = new Promise<Error>((r) => conn.on('close', r));
    const ch = await conn.createChannel();
    await ch.assertQueue('q');
    child.kill('SIGTERM');
    expect((await closed).message).toMatch(/320|CONNECTION_FORCED/);
    expect(await exited).toBe(0);
    expect(lines.some((l) => l['msg'] === 'stopped')).toBe(true);
  });

  it('exits 1 with usage on a bad flag', async () => {
    const { exited } = startCli(['start', '--amqp-port', 'x']);
    expect(await exited).toBe(1);
  });
});
