/**
 * What the servers say about a run, as deltas of their counters between its start and its end:
 *  - Triton's mean requests per execution of the model (nv_inference_request_success / nv_inference_exec_count):
 *    above 1 when the dynamic batcher merged concurrent requests into one model execution;
 *  - the gateway's padding efficiency (rerank_tokens_sent_total / rerank_padded_cells_total): real tokens per
 *    tensor cell sent to Triton;
 *  - the gateway's token cache hit rate (rerank_token_cache_hits_total / (hits + misses)), when it has one;
 * and the peak of the gateway's resident memory (process_resident_memory_bytes), sampled during the run.
 * A counter the server does not export gives null, never a made-up figure.
 */
import { gatewayMetricsUrl, PeakSampler, Scrape, tritonMetricsUrl } from "./prometheus.js";

/** A model as the gateway names it (metric label "model") and as Triton does. */
export interface ModelNames {
  name: string;
  tritonModel: string;
}

interface Counters {
  tritonRequests?: number;
  tritonExecutions?: number;
  tokensSent?: number;
  paddedCells?: number;
  cacheHits?: number;
  cacheMisses?: number;
}

export interface ServerFigures {
  tritonRequests: number | null;
  tritonExecutions: number | null;
  requestsPerExecution: number | null;
  paddingEfficiency: number | null;
  cacheHitRate: number | null;
  peakRssBytes: number | null;
}

async function readCounters(model: ModelNames): Promise<Counters> {
  const [gateway, triton] = await Promise.all([Scrape.of(gatewayMetricsUrl()), Scrape.of(tritonMetricsUrl())]);
  const tritonLabels = { model: model.tritonModel };
  return {
    tritonRequests: triton.value("nv_inference_request_success", tritonLabels),
    tritonExecutions: triton.value("nv_inference_exec_count", tritonLabels),
    tokensSent: gateway.value("rerank_tokens_sent_total", { model: model.name }),
    paddedCells: gateway.value("rerank_padded_cells_total", { model: model.name }),
    cacheHits: gateway.value("rerank_token_cache_hits_total"),
    cacheMisses: gateway.value("rerank_token_cache_misses_total"),
  };
}

function delta(before: Counters, after: Counters, key: keyof Counters): number | null {
  const [from, to] = [before[key], after[key]];
  // A counter that first appears during the run started at 0.
  return to === undefined ? null : to - (from ?? 0);
}

const ratio = (numerator: number | null, denominator: number | null) =>
  numerator === null || denominator === null || denominator === 0 ? null : numerator / denominator;

/** Watches the servers over one run: start() before it, stop() after it. */
export class ServerWatch {
  private constructor(
    private readonly model: ModelNames,
    private readonly before: Counters,
    private readonly rss: PeakSampler,
  ) {}

  static async start(model: ModelNames): Promise<ServerWatch> {
    return new ServerWatch(
      model,
      await readCounters(model),
      new PeakSampler(gatewayMetricsUrl(), "process_resident_memory_bytes"),
    );
  }

  async stop(): Promise<ServerFigures> {
    const [after, peakRssBytes] = await Promise.all([readCounters(this.model), this.rss.stop()]);
    const change = (key: keyof Counters) => delta(this.before, after, key);
    const [hits, misses] = [change("cacheHits"), change("cacheMisses")];
    return {
      tritonRequests: change("tritonRequests"),
      tritonExecutions: change("tritonExecutions"),
      requestsPerExecution: ratio(change("tritonRequests"), change("tritonExecutions")),
      paddingEfficiency: ratio(change("tokensSent"), change("paddedCells")),
      cacheHitRate: ratio(hits, hits === null || misses === null ? null : hits + misses),
      peakRssBytes: peakRssBytes ?? null,
    };
  }
}

/** Checks once, before any run, that both endpoints answer: a wrong URL should stop the bench, not print nulls. */
export async function checkMetricsEndpoints(): Promise<void> {
  for (const url of [gatewayMetricsUrl(), tritonMetricsUrl()]) {
    await Scrape.of(url).catch((error: Error) => {
      throw new Error(`cannot read ${url} (set RERANK_METRICS_URL / TRITON_METRICS_URL): ${error.message}`);
    });
  }
}

/** Token cache hits and misses of the calls run through `around`, scraped before and after each of them. */
export class CacheTally {
  private hits = 0;
  private misses = 0;
  private seen = false;

  async around<T>(call: () => Promise<T>): Promise<T> {
    const read = async () => {
      const scrape = await Scrape.of(gatewayMetricsUrl());
      return [scrape.value("rerank_token_cache_hits_total"), scrape.value("rerank_token_cache_misses_total")] as const;
    };
    const [hitsBefore = 0, missesBefore = 0] = await read();
    const result = await call();
    const [hitsAfter, missesAfter] = await read();
    if (hitsAfter !== undefined && missesAfter !== undefined) {
      this.seen = true;
      this.hits += hitsAfter - hitsBefore;
      this.misses += missesAfter - missesBefore;
    }
    return result;
  }

  /** Hits over lookups; null when the gateway exports no token cache counters (or looked nothing up). */
  get hitRate(): number | null {
    return this.seen && this.hits + this.misses > 0 ? this.hits / (this.hits + this.misses) : null;
  }
}
