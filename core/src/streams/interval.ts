/**
 * RabbitMQ's interval strings (`x-max-age`, and `x-stream-offset` given as an age): a positive
 * integer and one unit, `Y` (365 days), `M` (30 days), `D`, `h`, `m` or `s`, e.g. `7D`, `12h`.
 * The same units and lengths as `rabbit_amqqueue:check_max_age/1`, so a declaration moved
 * between RabbitMQ and Junction means the same age.
 */
const UNIT_MS: ReadonlyMap<string, number> = new Map([
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['D', 86_400_000],
  ['M', 30 * 86_400_000],
  ['Y', 365 * 86_400_000],
]);

/** At most 12 digits: every value of every unit stays well inside a safe integer of ms. */
const INTERVAL = /^([0-9]{1,12})([YMDhms])$/;

/** The interval in milliseconds, or undefined when `text` is not one. */
export function parseInterval(text: string): number | undefined {
  const m = INTERVAL.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (n <= 0) return undefined;
  return n * UNIT_MS.get(m[2]!)!;
}
