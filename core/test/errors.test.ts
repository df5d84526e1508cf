import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BrokerError, ErrorCodes } from '../src/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('errors', () => {
  it('lists exactly the codes core/src/errors.ts defines in the README, with their reply codes and scopes', () => {
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` +\| (\d+) +\| (channel|connection) +\|/gm)].map((m) => [
      m[1],
      Number(m[2]),
      m[3],
    ]);
    const defined = Object.entries(ErrorCodes).map(([code, { replyCode, scope }]) => [
      code,
      replyCode,
      scope,
    ]);
    expect(rows).toEqual(defined);
  });

  it('keeps instanceof working across copies of the class (Symbol.for branding)', () => {
    const e = new BrokerError('NOT_FOUND', 'x');
    const foreign = Object.create({ [Symbol.for('junction.BrokerError')]: true }) as object;
    expect(e).toBeInstanceOf(BrokerError);
    expect(foreign instanceof BrokerError).toBe(true);
    expect(new Error('x') instanceof BrokerError).toBe(false);
    expect(e).toMatchObject({ code: 'NOT_FOUND', replyCode: 404, scope: 'channel' });
  });
});
