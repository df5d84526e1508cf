/**
 * A small disk for a suite: a tmpfs of `size` (e.g. '48m') mounted before its tests (as root,
 * which this machine and CI are) and removed after them; `path()` is its mount point.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export function smallDisk(size: string, name: string): { path(): string } {
  let mountPoint = '';
  beforeAll(() => {
    mountPoint = mkdtempSync(join(tmpdir(), `junction-${name}-`));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint]);
  });
  afterAll(() => {
    execFileSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  return { path: () => mountPoint };
}
