/**
 * node packages/bench/dist/profile-summary.js <file.cpuprofile>... [--top N]
 *
 * Where a process's main thread spent a profile's time (`--profile` writes one per Junction and
 * per load worker): self time per function group (a repository file, an npm package, a Node
 * internal module, GC, idle) as a percent of the profile's wall time, then the top functions.
 * Idle is the event loop waiting: a process near 0% idle is the ceiling of its run.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The group a frame's self time counts to. */
export function groupOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(url);
    return `node ${m?.[1] ?? url}`;
  }
  // A file of this repository (or another checkout): the last package dir and the file.
  const repo = /\/((?:core|protocols\/[^/]+|packages\/[^/]+))\/(?:dist|src)\/(.*)$/.exec(url);
  if (repo) return `${repo[1]}/${repo[2]!.replace(/\.js$/, '')}`;
  return basename(url);
}

export function summarise(p: Profile, top: number): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    const g = groupOf(f.url, f.functionName);
    groups.set(g, (groups.get(g) ?? 0) + t);
    const name = `${f.functionName || '(anonymous)'} ${g}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + t);
  }
  const idle = groups.get('(idle)') ?? 0;
  const pct = (t: number) => `${((t / total) * 100).toFixed(1)}%`;
  const rows = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, t]) => `  ${pct(t).padStart(6)}  ${k}`)
      .join('\n');
  return (
    `${(total / 1e6).toFixed(1)} s profiled, busy ${pct(total - idle)}, idle ${pct(idle)}\n` +
    `by group (self time, % of wall):\n${rows(groups, 25)}\n` +
    `top functions:\n${rows(fns, top)}\n`
  );
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' } },
  });
  for (const file of positionals) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    process.stdout.write(`## ${basename(file)}\n${summarise(p, Number(values.top))}\n`);
  }
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) main();
