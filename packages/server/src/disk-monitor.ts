/**
 * RabbitMQ's disk alarm: when the file system of the data directory has less free space than
 * the limit, publishers are blocked (as for the memory alarm) before a full disk starts
 * failing store writes; cleared once there is room again. Checked with statfs (one system
 * call) at most every second, and sooner the less room is left above the limit: the next check
 * comes before a store writing at FILL_RATE could use half of that room.
 */
import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Broker } from '@junction/core';
import { resolveAmount } from './amount.js';

/** A fast local disk's sequential write rate, bytes/s: the fastest the store can fill it. */
const FILL_RATE = 512 * 2 ** 20;
const MIN_INTERVAL_MS = 10;

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
    const room = Math.max(0, this.free - this.limitBytes);
    const soonest = ((room / 2) * 1000) / FILL_RATE;
    this.timer = setTimeout(
      () => void this.check().then(() => this.schedule()),
      Math.max(MIN_INTERVAL_MS, Math.min(this.intervalMs, soonest)),
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
