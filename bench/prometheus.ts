/**
 * What the benchmarks read from Prometheus endpoints: the gateway's /metrics (RERANK_METRICS_URL, default
 * http://127.0.0.1:9464/metrics) and Triton's (TRITON_METRICS_URL, default http://127.0.0.1:8002/metrics).
 * Counters are compared as deltas over a run; the gateway's resident memory is sampled for its peak.
 */
import { setTimeout as sleep } from "node:timers/promises";

export const gatewayMetricsUrl = (): string => process.env.RERANK_METRICS_URL ?? "http://127.0.0.1:9464/metrics";
export const tritonMetricsUrl = (): string => process.env.TRITON_METRICS_URL ?? "http://127.0.0.1:8002/metrics";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One scrape of a text-format endpoint. */
export class Scrape {
  private constructor(private readonly samples: readonly Sample[]) {}

  static async of(url: string): Promise<Scrape> {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
    const samples: Sample[] = [];
    for (const line of (await response.text()).split("\n")) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!match) continue;
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
      samples.push({ name: match[1]!, labels, value: Number(match[3]) });
    }
    return new Scrape(samples);
  }

  /** The sum of `name` over the series whose labels include `labels`; undefined when no series matches. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const matching = this.samples.filter(
      (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
    return matching.length === 0 ? undefined : matching.reduce((total, sample) => total + sample.value, 0);
  }
}

/** Samples one gauge every `intervalMs` until stopped; keeps the largest value seen. */
export class PeakSampler {
  private peak: number | undefined;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(url: string, name: string, intervalMs = 250) {
    this.loop = (async () => {
      while (this.running) {
        const value = await Scrape.of(url).then(
          (scrape) => scrape.value(name),
          () => undefined, // a missed sample is not worth failing the run for
        );
        if (value !== undefined) this.peak = Math.max(this.peak ?? value, value);
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<number | undefined> {
    this.running = false;
    await this.loop;
    return this.peak;
  }
}
