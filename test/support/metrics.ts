/** Reads Prometheus text exposition: the gateway's /metrics (RunningGateway.metricsUrl) and Triton's metrics port. */
import { setTimeout as sleep } from "node:timers/promises";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The sum of metric `name` over the samples whose labels include `labels` (all of them for `{}`); undefined when
 * no sample matches (the series was never written).
 */
export async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  const matching = parse(await response.text()).filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  return matching.length === 0 ? undefined : matching.reduce((sum, sample) => sum + sample.value, 0);
}

/**
 * Calls `probe` every `intervalMs` until `done` holds for its value or `timeoutMs` passes; returns the last value
 * either way, for the test's own expect() to judge (so a failure shows what was seen last).
 */
export async function poll<T>(
  probe: () => Promise<T> | T,
  done: (value: T) => boolean,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() >= giveUp) return value;
    await sleep(intervalMs);
  }
}
