import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { log } from "./logger.js";

/** Prometheus metrics of the gateway, served on HTTP /metrics. */
export class GatewayMetrics {
  readonly registry = new Registry();

  /** Rerank calls by the model that scored them (or was asked for, on failure) and their gRPC status. */
  readonly requests = new Counter({
    name: "rerank_requests_total",
    help: "Rerank requests by model, outcome (gRPC status name, on both APIs) and API (grpc, http)",
    labelNames: ["model", "code", "api"] as const,
    registers: [this.registry],
  });

  /** Latency per stage: tokenize, infer (Triton, all batches), total (the whole request). */
  readonly stageSeconds = new Histogram({
    name: "rerank_stage_duration_seconds",
    help: "Time per request stage (tokenize, infer, total) by model",
    labelNames: ["model", "stage"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly fallbacks = new Counter({
    name: "rerank_fallbacks_total",
    help: "Requests scored by a fallback model, by requested model, serving model and reason",
    labelNames: ["from", "to", "reason"] as const,
    registers: [this.registry],
  });

  readonly breakerState = new Gauge({
    name: "rerank_breaker_state",
    help: "Circuit breaker state per model: 0 closed, 1 half-open, 2 open",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  readonly pairsInFlight = new Gauge({
    name: "rerank_pairs_in_flight",
    help: "(query, document) pairs being scored per model",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  /** Real tokens and padded cells sent to Triton: their ratio is the padding efficiency. */
  readonly tokensSent = new Counter({
    name: "rerank_tokens_sent_total",
    help: "Tokens (attention mask ones) sent to Triton, by model",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  readonly cellsSent = new Counter({
    name: "rerank_padded_cells_total",
    help: "Padded tensor cells (rows x sequence length) sent to Triton, by model",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  readonly endpointUp = new Gauge({
    name: "rerank_triton_endpoint_up",
    help: "1 when the Triton endpoint is taking requests, 0 while it is ejected",
    labelNames: ["endpoint"] as const,
    registers: [this.registry],
  });

  /** The tokenizer pool's token cache: documents whose ids were reused or tokenized, and the bytes it holds. */
  readonly tokenCacheHits = new Counter({
    name: "rerank_token_cache_hits_total",
    help: "Documents whose token ids came from the token cache",
    registers: [this.registry],
  });

  readonly tokenCacheMisses = new Counter({
    name: "rerank_token_cache_misses_total",
    help: "Documents tokenized because the token cache did not hold their ids (counted only while the cache is on)",
    registers: [this.registry],
  });

  readonly tokenCacheBytes = new Gauge({
    name: "rerank_token_cache_bytes",
    help: "Bytes held by the token cache (ids and per-entry overhead)",
    registers: [this.registry],
  });

  /** Rerank requests by the name of the API key that sent them (never the key), while API keys are on. */
  readonly requestsByKey = new Counter({
    name: "rerank_requests_by_key_total",
    help: "Rerank requests by API key name and outcome (gRPC status name, on both APIs), while API keys are on",
    labelNames: ["key", "code"] as const,
    registers: [this.registry],
  });

  readonly quotaRejections = new Counter({
    name: "rerank_quota_rejections_total",
    help: "Rerank requests refused because their API key was over its pairs-per-second quota, by key name",
    labelNames: ["key"] as const,
    registers: [this.registry],
  });

  readonly unauthenticated = new Counter({
    name: "rerank_unauthenticated_requests_total",
    help: "Requests refused for a missing or unknown API key, by API (grpc, http)",
    labelNames: ["api"] as const,
    registers: [this.registry],
  });

  /** Files re-read while running: applied, or rejected (the previous configuration stays in use). */
  readonly reloads = new Counter({
    name: "rerank_reloads_total",
    help: "Changes of the TLS certificate files (tls) or the API keys file (api_keys), applied or rejected",
    labelNames: ["config", "outcome"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Serves /metrics on `address` (host:port); resolves with the bound port. */
  serve(address: string): Promise<{ server: Server; port: number }> {
    const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
    const server = createServer((request, response) => {
      if (request.url !== "/metrics") {
        response.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        (error: Error) => {
          log.error("metrics collection failed", { error: error.message });
          response.writeHead(500).end();
        },
      );
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        const bound = server.address();
        resolve({ server, port: typeof bound === "object" && bound ? bound.port : port });
      });
    });
  }
}
