/** Small statistics helpers shared by the benchmarks. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
}

export function summarize(samples: number[]): LatencySummary {
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
  };
}

export const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

export const mean = (values: readonly number[]): number => (values.length === 0 ? Number.NaN : sum(values) / values.length);

/** Deterministic pseudo-random numbers (mulberry32), so every run draws the same documents. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** An integer in [low, high] whose logarithm is uniform: as many requests of 5-50 documents as of 50-500. */
export function logUniformInt(random: () => number, low: number, high: number): number {
  return Math.min(high, Math.floor(Math.exp(Math.log(low) + random() * (Math.log(high + 1) - Math.log(low)))));
}

/** A number for a table: "-" when missing, else fixed decimals (integers from 1000 up). */
export function formatNumber(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "-";
  if (value === Number.POSITIVE_INFINITY) return "inf";
  return Math.abs(value) >= 1000 ? value.toFixed(0) : value.toFixed(digits);
}

export function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** "name value, name value", or "-" when empty. */
export function listing(valueByName: Record<string, number>, format: (value: number) => string = String): string {
  const entries = Object.entries(valueByName);
  return entries.length ? entries.map(([name, value]) => `${name} ${format(value)}`).join(", ") : "-";
}

/** A share as a percentage, "-" when unknown. */
export const percent = (share: number | null, digits = 0): string =>
  share === null || Number.isNaN(share) ? "-" : `${(share * 100).toFixed(digits)}%`;

export function printTable(headers: string[], rows: (string | number | null | undefined)[][]): void {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === "string" ? cell : formatNumber(cell))));
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padStart(widths[column]!)).join("  ");
  console.log(line(headers));
  for (const row of cells) console.log(line(row));
}

/** A progress line on a terminal (rewritten in place); nothing when stderr is a file or a pipe. */
export function progress(text: string, done = false): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}\x1b[K${done ? "\n" : ""}`);
}
