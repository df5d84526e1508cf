/**
 * RabbitMQ's disk alarm: when the file system of the data directory has less free space than
 * the limit, publishers are blocked (as for the memory alarm) before a full disk starts
 * failing store writes; cleared once there is room again. Checked with statfs (one system
 * call) every second, and ten times a second once less than twice the limit is free, so a
 * fast publisher cannot fill the last stretch between two checks.
 */
import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Broker } from '@junction/core';
import { resolveAmount } from './amount.js';

export class DiskMonitor {
  private blocked = false;
  private free = 0;
  private limitBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private checking: Promise<void> | undefined;

  /**
   * @param limit bytes, or a fraction below 1 of the file system's size
   */
  constructor(
    private readonly broker: Broker,
    private readonly dir: string,
    private readonly limit: number,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const near = this.free < 2 * this.limitBytes;
    this.timer = setTimeout(
      () => void this.check().then(() => this.schedule()),
      near ? this.intervalMs / 10 : this.intervalMs,
    );
    this.timer.unref();
  }

  /** One check (a check already running is joined); never rejects. */
  check(): Promise<void> {
    this.checking ??= this.measure().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async measure(): Promise<void> {
    let s;
    try {
      s = await statfs(this.dir);
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'disk free space check failed');
      return;
    }
    this.free = s.bavail * s.bsize;
    this.limitBytes = resolveAmount(this.limit, s.blocks * s.bsize);
    const low = this.free < this.limitBytes;
    if (low === this.blocked) return;
    this.blocked = low;
    this.log.warn(
      { diskFree: this.free, diskFreeLimit: this.limitBytes, dir: this.dir, blocked: low },
      low ? 'disk alarm set: free disk space below the limit, publishers are blocked' : 'disk alarm cleared',
    );
    this.broker.setAlarm('disk', low ? 'low on disk space' : null);
  }

  state(): { free: number; limit: number; alarm: boolean } {
    return { free: this.free, limit: this.limitBytes, alarm: this.blocked };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
