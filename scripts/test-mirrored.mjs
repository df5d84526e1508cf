#!/usr/bin/env node
// `npm run test:mirrored -- --runs N`: the mirrored-queue fault tests (kill -9 of the Redis
// primary, SIGSTOP of it through a failover, kill -9 of a replica) N times each (default 10),
// then the per-fault table the test file prints (runs, confirmed, lost, nacked, longest gap).
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const at = args.indexOf('--runs');
const runs = at < 0 ? 10 : Number(args[at + 1]);
if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
  console.error('usage: npm run test:mirrored -- [--runs N]   (1 <= N <= 100, default 10)');
  process.exit(2);
}
const r = spawnSync(
  'npx',
  ['vitest', 'run', 'test/storage/mirrored-queue.test.ts', '-t', 'replication group'],
  {
    stdio: 'inherit',
    env: { ...process.env, MIRRORED_RUNS: String(runs) },
  },
);
process.exit(r.status ?? 1);
