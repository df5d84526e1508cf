/**
 * RabbitMQ's memory alarm: above the high watermark every connection that publishes is
 * told it is blocked (AMQP connection.blocked; MQTT and STOMP stop reading) and its publishes
 * stop being read, until memory falls back below.
 */
import type { Logger } from 'pino';
import type { Broker } from '@junction/core';

export class MemoryWatermark {
  private blocked = false;
  private rss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly broker: Broker,
    readonly highBytes: number,
    private readonly log: Logger,
    // Reading RSS costs microseconds; checking often bounds how far a flood overshoots the
    // watermark (what arrives between two checks), where RabbitMQ's 2.5 s period relies on
    // credit flow as well.
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
    this.check();
  }

  check(): void {
    this.rss = process.memoryUsage.rss();
    const over = this.rss > this.highBytes;
    if (over === this.blocked) return;
    this.blocked = over;
    this.log.warn(
      { rss: this.rss, highWatermark: this.highBytes, blocked: over },
      over ? 'memory alarm set: publishers are blocked' : 'memory alarm cleared',
    );
    this.broker.setAlarm('memory', over ? 'low on memory' : null);
  }

  state(): { used: number; limit: number; alarm: boolean } {
    return { used: this.rss, limit: this.highBytes, alarm: this.blocked };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
