import { describe, expect, it } from 'vitest';
import { rawClient, seededRandom, startAmqpServer, until } from '../src/index.js';

describe('until', () => {
  it('resolves with the first truthy value', async () => {
    let n = 0;
    await expect(until(() => ++n >= 3 && n, 'three polls')).resolves.toBe(3);
  });

  it('fails at its deadline, naming what it waited for', async () => {
    await expect(until(() => false, 'the impossible', 50)).rejects.toThrow(
      'timed out after 50 ms waiting for the impossible',
    );
  });

  it('fails at once when the check throws', async () => {
    const started = Date.now();
    await expect(
      until(() => {
        throw new Error('gone');
      }, 'a thing'),
    ).rejects.toThrow('gone');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('seededRandom', () => {
  it('replays the same sequence from the same seed, another from another', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const seqA = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(seqA);
    expect(Array.from({ length: 5 }, seededRandom(43))).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('rawClient on an AMQP server', () => {
  it('collects what the server sends and sees it close', async () => {
    const server = await startAmqpServer();
    try {
      const c = await rawClient(server.port);
      c.write('HTTP/1.1\r\n\r\n'); // not a protocol header: the server answers with its own and closes
      await c.closed;
      expect(c.isClosed()).toBe(true);
      expect(c.received()).toEqual(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
    } finally {
      await server.close();
    }
  });
});
