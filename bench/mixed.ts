/**
 * Mixed workload at rising concurrency: N closed-loop clients for a fixed duration per step, each request drawn
 * from 5 to 500 documents (log-uniform: as many requests of 5-50 documents as of 50-500), 70% of requests of short
 * msmarco passages and 30% of long documents (joined passages, >= 256 tokens), every document new to the gateway.
 * Per step: throughput (pairs/s), p50/p95/p99 latency of the answered requests (refusals, e.g. RESOURCE_EXHAUSTED when
 * the model's pair capacity is full, are counted apart), and what the servers say (server-counters.ts): Triton's mean
 * requests per execution (above 1 when concurrent requests were merged), padding efficiency, peak gateway RSS.
 */
import { performance } from "node:perf_hooks";
import { closedLoop } from "./closed-loop.js";
import type { Documents, Fresh } from "./documents.js";
import { errorsByStatus, type Gateway, type Outcome } from "./gateway-client.js";
import { ServerWatch, type ModelNames, type ServerFigures } from "./server-counters.js";
import {
  formatNumber,
  listing,
  logUniformInt,
  pick,
  printTable,
  seededRandom,
  sum,
  summarize,
  type LatencySummary,
} from "./stats.js";

export const MIXED_MIN_DOCUMENTS = 5;
export const MIXED_MAX_DOCUMENTS = 500;
export const LONG_REQUEST_SHARE = 0.3;
const DEADLINE_MS = 120_000;

export interface MixedStep {
  model: string;
  concurrency: number;
  seconds: number;
  sent: number;
  succeeded: number;
  errors: Record<string, number>;
  /** Documents (pairs) scored per second, successful requests only. */
  pairsPerSecond: number;
  requestsPerSecond: number;
  meanDocuments: number;
  latencyMs: LatencySummary;
  server: ServerFigures;
}

interface Sent {
  outcome: Outcome;
  documents: number;
}

/** The requests of one client, the same sequence at every concurrency level. */
function requestsOf(client: number, documents: Documents, fresh: Fresh, model: string) {
  const random = seededRandom(1_000 + client);
  return () => {
    const pool = random() < LONG_REQUEST_SHARE ? documents.long : documents.short;
    const count = logUniformInt(random, MIXED_MIN_DOCUMENTS, MIXED_MAX_DOCUMENTS);
    return {
      model,
      query: pick(random, documents.queries),
      documents: Array.from({ length: count }, () => fresh.tag(pick(random, pool))),
      truncate: true,
      disableFallback: true,
    };
  };
}

export async function runMixedStep(
  gateway: Gateway,
  model: ModelNames,
  documents: Documents,
  fresh: Fresh,
  concurrency: number,
  seconds: number,
): Promise<MixedStep> {
  const next = Array.from({ length: concurrency }, (_, client) => requestsOf(client, documents, fresh, model.name));
  const watch = await ServerWatch.start(model);
  const started = performance.now();
  const results = await closedLoop(concurrency, started + seconds * 1000, async (client): Promise<Sent> => {
    const request = next[client]!();
    return { outcome: await gateway.send(request, DEADLINE_MS), documents: request.documents.length };
  });
  const elapsed = (performance.now() - started) / 1000;
  const server = await watch.stop();
  const succeeded = results.filter(({ outcome }) => outcome.ok);
  const pairs = sum(succeeded.map((result) => result.documents));
  return {
    model: model.name,
    concurrency,
    seconds: elapsed,
    sent: results.length,
    succeeded: succeeded.length,
    errors: errorsByStatus(results.map((result) => result.outcome)),
    pairsPerSecond: pairs / elapsed,
    requestsPerSecond: succeeded.length / elapsed,
    meanDocuments: pairs / succeeded.length,
    latencyMs: summarize(succeeded.map((result) => result.outcome.latencyMs)),
    server,
  };
}

const mebibytes = (bytes: number | null) => (bytes === null ? "-" : (bytes / 2 ** 20).toFixed(0));

export function printMixed(steps: readonly MixedStep[]): void {
  printTable(
    [
      "clients",
      "seconds",
      "ok",
      "docs/req",
      "pairs/s",
      "req/s",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "req/exec",
      "padding eff",
      "peak RSS MiB",
      "errors",
    ],
    steps.map((step) => [
      String(step.concurrency),
      step.seconds.toFixed(1),
      `${step.succeeded}/${step.sent}`,
      formatNumber(step.meanDocuments, 0),
      formatNumber(step.pairsPerSecond, 0),
      step.requestsPerSecond,
      step.latencyMs.p50,
      step.latencyMs.p95,
      step.latencyMs.p99,
      step.server.requestsPerExecution,
      step.server.paddingEfficiency,
      mebibytes(step.server.peakRssBytes),
      listing(step.errors),
    ]),
  );
}
