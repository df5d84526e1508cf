/**
 * RabbitMQ's memory alarm: above the high watermark every connection that publishes is
 * told it is blocked (AMQP connection.blocked) and its publishes stop being read, until
 * memory falls back below.
 */
import type { Logger } from 'pino';
import type { Broker } from '@junction/core';

export class MemoryWatermark {
  private blocked = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly broker: Broker,
    private readonly highBytes: number,
    private readonly log: Logger,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
    this.check();
  }

  check(): void {
    const rss = process.memoryUsage.rss();
    const over = rss > this.highBytes;
    if (over === this.blocked) return;
    this.blocked = over;
    this.log.warn(
      { rss, highWatermark: this.highBytes, blocked: over },
      over ? 'memory alarm set' : 'memory alarm cleared',
    );
    this.broker.setAlarm(over ? 'low on memory' : null);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
