/**
 * Sizes in settings: a byte count with an optional unit (`50MB`, `1GiB`, `524288000`), or a
 * fraction below 1 (`0.4`) of some total (available memory, the disk's size); 0 = off.
 */
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A size or a fraction: fractions are the numbers between 0 and 1, sizes whole bytes from 1 on. */
export function parseAmount(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new Error(`expected a size (e.g. 50MB, 1GiB) or a fraction below 1, got '${v}'`);
  const n = Number(m[1]);
  if (m[2] === '' && n < 1) return n; // a fraction (or 0: off)
  const bytes = Math.round(n * unit);
  if (bytes < 1) throw new Error(`expected a size of at least 1 byte, got '${v}'`);
  return bytes;
}

/** The bytes an amount stands for, given the total a fraction is of. */
export function resolveAmount(amount: number, total: number): number {
  return amount > 0 && amount < 1 ? Math.floor(amount * total) : amount;
}
