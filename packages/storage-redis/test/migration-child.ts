/**
 * Opens a Redis store (which converts format-1 data) and dies by SIGKILL at the Nth migration
 * step: what format-migration.test.ts restarts from. Args: url, key prefix, N (0: never).
 */
import { RedisStore } from '../src/index.js';

const [url, keyPrefix, killAt] = process.argv.slice(2);
let steps = 0;
const store = new RedisStore({
  url: url!,
  keyPrefix: keyPrefix!,
  onMigrationStep: (step) => {
    process.stdout.write(`${JSON.stringify({ msg: 'step', ...step })}\n`);
    if (++steps === Number(killAt)) process.kill(process.pid, 'SIGKILL');
  },
});
await store.open();
await store.close();
process.stdout.write(`${JSON.stringify({ msg: 'opened', steps })}\n`);
