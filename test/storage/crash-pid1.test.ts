/**
 * A broker in a container is PID 1 of its pid namespace, and so is the one the container
 * runtime starts after it dies: a lock that names a pid would name the new broker's own
 * pid. Here each life of the broker is PID 1 of a fresh namespace (`unshare --pid --fork
 * --mount-proc`, as root), publishes persistent messages with confirms, and is killed with
 * SIGKILL at a random moment; the next life starts on the same data directory and keeps
 * every confirmed message. A second live broker on the directory is refused.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lmdbCrash } from './crash-backends.js';
import { onlyChildPid, seededRandom } from '@junction/testkit';
import { freshLedger, oneLife, startBrokerProcess, verify, type Running } from './crash-harness.js';

const PID1 = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL'];
const LIVES = 5;

/** The broker's pid outside its namespace: unshare's only child. */
function hostPid(b: Running): number {
  return onlyChildPid(b.child.pid!);
}

describe('crash recovery as PID 1 of a pid namespace (embedded store)', () => {
  let fx: Awaited<ReturnType<typeof lmdbCrash.fresh>> | undefined;
  afterAll(async () => {
    await fx?.cleanup();
  });

  it(`starts again after ${LIVES} SIGKILLs and keeps every confirmed message; a second live broker is refused`, async () => {
    fx = await lmdbCrash.fresh();
    const r = seededRandom(1301);
    let ledger = freshLedger();
    const nextId = { n: 1 };
    let recovered = 0;
    for (let life = 0; life <= LIVES; life++) {
      const b = await startBrokerProcess(fx.args, PID1);
      expect(b.pid, 'the broker is PID 1 of its namespace').toBe(1);
      if (life > 0) {
        recovered += await verify(b.amqpUrl, ledger, nextId.n);
        ledger = freshLedger();
      }
      if (life === LIVES) {
        // A second broker on the same directory while this one lives, also PID 1 of its own
        // namespace, is refused and says why.
        await expect(startBrokerProcess(fx.args, PID1)).rejects.toThrow(
          /data directory .* is in use by another running broker \(pid 1, lock /,
        );
        // unshare passes no signal on: SIGTERM goes to the broker, which stops cleanly.
        process.kill(hostPid(b), 'SIGTERM');
        expect(await b.exited).toBe(0);
        break;
      }
      const broker = hostPid(b);
      await oneLife(b.amqpUrl, b.httpUrl, ledger, nextId, r, () => process.kill(broker, 'SIGKILL'));
      // unshare reaps the broker and exits with it.
      await b.exited;
    }
    expect(recovered).toBeGreaterThan(LIVES * 10);
  }, 180_000);
});
