// Parses byte sizes from the config (1048576, "512k", "10m", "1g"; k/m/g are powers of 1024). Pure.

const UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes, or undefined when `value` is not a size. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * UNIT[m[2].toLowerCase()]);
}
