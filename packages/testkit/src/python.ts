/**
 * Runs a Python client script (Debian's python3 with python3-pika, python3-stomp,
 * python3-paho-mqtt) against a test broker. The script prints one JSON line last: what it
 * saw, which the test compares. Bounded: a hung client fails the test instead of hanging it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PYTHON = process.env['PYTHON'] ?? '/usr/bin/python3';

export async function runPython(
  script: string,
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<unknown> {
  const { stdout } = await run(PYTHON, [script, ...args], { timeout: timeoutMs });
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as unknown;
}
