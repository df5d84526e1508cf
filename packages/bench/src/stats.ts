/** Percentiles and the ratio table the README quotes. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

export interface Row {
  scenario: string;
  metric: string;
  /** Higher is better (throughput) or lower is better (latency). */
  better: 'higher' | 'lower';
  values: Record<string, number>;
}

/** A markdown table: one column per target, and each target's ratio to the first (Junction). */
export function ratioTable(rows: readonly Row[], targets: readonly string[]): string {
  const [base, ...others] = targets;
  const head = ['scenario', 'metric', ...targets, ...others.map((o) => `${base} / ${o}`)];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    const b = r.values[base!] ?? NaN;
    const ratios = others.map((o) => {
      const v = r.values[o] ?? NaN;
      // Ratios read "how many times better": throughput base/peer, latency peer/base.
      const ratio = r.better === 'higher' ? b / v : v / b;
      return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a';
    });
    lines.push(
      `| ${[r.scenario, r.metric, ...targets.map((t) => fmt(r.values[t]))].concat(ratios).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

export function fmt(v: number | undefined): string {
  // Infinity: a bounded measurement that ran out of time (isolation-scenarios.ts).
  if (v === Infinity) return 'did not finish';
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
}
