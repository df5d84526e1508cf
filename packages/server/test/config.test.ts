import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaults, envName, loadConfig, settings } from '../src/config.js';

describe('configuration', () => {
  it('layers defaults, file, environment and flags, later ones winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'junction-config-'));
    const file = join(dir, 'junction.json');
    writeFileSync(file, JSON.stringify({ amqp: { port: 6000, heartbeat: 10 }, logLevel: 'warn' }));
    const c = loadConfig({
      env: { JUNCTION_CONFIG: file, JUNCTION_AMQP_PORT: '6001', JUNCTION_DEFAULT_USER: 'admin:s3cret' },
      flags: { 'amqp-port': '6002' },
    });
    expect(c.amqp).toMatchObject({ port: 6002, heartbeat: 10, frameMax: defaults.amqp!.frameMax });
    expect(c.logLevel).toBe('warn');
    expect(c.defaultUser).toEqual({ username: 'admin', password: 's3cret' });
  });

  it('says which setting is wrong', () => {
    expect(() => loadConfig({ flags: { 'amqp-port': 'abc' } })).toThrow(
      /--amqp-port: expected a non-negative integer/,
    );
    expect(() => loadConfig({ env: { JUNCTION_HEARTBEAT: '-1' } })).toThrow(/JUNCTION_HEARTBEAT/);
    expect(() => loadConfig({ flags: { nope: '1' } })).toThrow(/unknown option --nope/);
    const dir = mkdtempSync(join(tmpdir(), 'junction-config-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ amqpp: {} }));
    expect(() => loadConfig({ file: join(dir, 'bad.json') })).toThrow(/unknown key 'amqpp'/);
  });

  it('disables a listener with "off"', () => {
    expect(loadConfig({ flags: { 'amqp-port': 'off' } }).amqp).toBeNull();
  });
});

describe('the README configuration table', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  // Prettier pads the table's columns: a row is matched whatever the padding.
  it('documents every setting with its environment variable, and nothing that is not one', () => {
    const documented = [...readme.matchAll(/^\| `--([a-z-]+)` +\| `(JUNCTION_[A-Z_]+)` +\|/gm)].map((m) => [
      m[1],
      m[2],
    ]);
    const wired = Object.keys(settings);
    expect(documented.map(([flag]) => flag).sort()).toEqual(wired.sort());
    for (const [flag, env] of documented) expect(env).toBe(envName(flag!));
  });
});
