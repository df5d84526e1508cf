import { pino, type Logger } from 'pino';

/** One JSON logger for the process; adapters and the core get children of it. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'junction' } });
}
