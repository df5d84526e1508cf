/**
 * The redis-server settings the Redis store's promise rests on: every write goes to the
 * append-only file and is fsynced before Redis answers (so a confirm, sent after the store's
 * write returns, survives a crash of Redis or of the machine), and no RDB snapshots. For
 * starting a local redis-server on loopback, as the tests and the benchmarks do.
 */
export function durableRedisArgs(port: number, dir: string): string[] {
  return [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
    ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'],
  ];
}
