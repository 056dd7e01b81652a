/**
 * Latency through the gateway against the model alone, per request size: for each of 10, 100 and 1000 documents,
 * requests of fresh msmarco passages (documents the gateway has never seen: "cold"), the same requests again at once
 * ("warm": what a token cache can serve), and the same padded tensors sent straight to Triton (triton-direct.ts).
 * The three are interleaved request by request, the order alternating, so that drift in the shared machine's load
 * hits all of them alike. A size runs `maxIterations` requests or until its time budget is spent (at least one).
 */
import { performance } from "node:perf_hooks";
import type { ModelSpec } from "../src/catalog/registry.js";
import type { Documents, Fresh } from "./documents.js";
import { answerTimes, errorsByStatus, type Failure, type Gateway, type Outcome } from "./gateway-client.js";
import { CacheTally } from "./server-counters.js";
import { listing, mean, percent, pick, progress, printTable, summarize, type LatencySummary } from "./stats.js";
import type { DirectTriton } from "./triton-direct.js";

export interface LatencySize {
  documents: number;
  maxIterations: number;
  budgetSeconds: number;
}

export const LATENCY_SIZES: readonly LatencySize[] = [
  { documents: 10, maxIterations: 20, budgetSeconds: 20 },
  { documents: 100, maxIterations: 10, budgetSeconds: 40 },
  { documents: 1000, maxIterations: 3, budgetSeconds: 60 },
];
const DEADLINE_MS = 600_000;

interface GatewayPhase extends LatencySummary {
  errors: Record<string, number>;
  /** The first failure's status and message, and how long it took to come back. */
  firstError: string | null;
  cacheHitRate: number | null;
}

export interface LatencyRow {
  model: string;
  documents: number;
  iterations: number;
  /** Mean real tokens and padded tensor cells per request (as planBatches pads them). */
  tokens: number;
  cells: number;
  cold: GatewayPhase;
  warm: GatewayPhase;
  triton: LatencySummary;
  /** Gateway p50 over Triton-alone p50. */
  ratioCold: number;
  ratioWarm: number;
}

class Phase {
  readonly outcomes: Outcome[] = [];
  readonly cache = new CacheTally();

  async send(gateway: Gateway, request: { model: string; query: string; documents: string[] }): Promise<void> {
    const outcome = await this.cache.around(() =>
      gateway.send({ ...request, truncate: true, disableFallback: true }, DEADLINE_MS),
    );
    this.outcomes.push(outcome);
  }

  summary(): GatewayPhase {
    const failed = this.outcomes.find((outcome): outcome is Failure => !outcome.ok);
    return {
      ...summarize(answerTimes(this.outcomes)),
      errors: errorsByStatus(this.outcomes),
      firstError: failed ? `${failed.statusName} after ${failed.latencyMs.toFixed(0)} ms: ${failed.details}` : null,
      cacheHitRate: this.cache.hitRate,
    };
  }
}

export async function measureLatency(
  gateway: Gateway,
  direct: DirectTriton,
  spec: ModelSpec,
  documents: Documents,
  fresh: Fresh,
  random: () => number,
  sizes: readonly LatencySize[] = LATENCY_SIZES,
): Promise<LatencyRow[]> {
  const draw = (count: number) => ({
    model: spec.name,
    query: pick(random, documents.queries),
    documents: Array.from({ length: count }, () => fresh.tag(pick(random, documents.short))),
  });
  // Warm-up (not measured): the first calls of a model load its tokenizer and onnxruntime session.
  for (let i = 0; i < 2; i++) {
    const request = draw(10);
    await gateway.rerank({ ...request, truncate: true, disableFallback: true }, DEADLINE_MS);
    await direct.infer(await direct.prepare(spec, request.query, request.documents));
  }
  const rows: LatencyRow[] = [];
  for (const size of sizes) {
    const [cold, warm] = [new Phase(), new Phase()];
    const tritonMs: number[] = [];
    const tokens: number[] = [];
    const cells: number[] = [];
    const stopAt = performance.now() + size.budgetSeconds * 1000;
    for (let i = 0; i < size.maxIterations && (i === 0 || performance.now() < stopAt); i++) {
      const request = draw(size.documents);
      const prepared = await direct.prepare(spec, request.query, request.documents);
      tokens.push(prepared.tokens);
      cells.push(prepared.cells);
      const viaTriton = async () => tritonMs.push(await direct.infer(prepared));
      if (i % 2 === 0) await viaTriton();
      await cold.send(gateway, request);
      await warm.send(gateway, request);
      if (i % 2 === 1) await viaTriton();
      progress(`${spec.name}: ${size.documents} documents, request ${i + 1}`);
    }
    progress(`${spec.name}: ${size.documents} documents done`, true);
    const row = {
      model: spec.name,
      documents: size.documents,
      iterations: tritonMs.length,
      tokens: mean(tokens),
      cells: mean(cells),
      cold: cold.summary(),
      warm: warm.summary(),
      triton: summarize(tritonMs),
    };
    rows.push({ ...row, ratioCold: row.cold.p50 / row.triton.p50, ratioWarm: row.warm.p50 / row.triton.p50 });
  }
  return rows;
}

export function printLatency(rows: readonly LatencyRow[]): void {
  for (const row of rows) {
    for (const [phase, error] of [
      ["cold", row.cold.firstError],
      ["warm", row.warm.firstError],
    ]) {
      if (error) console.log(`${row.model}, ${row.documents} documents, ${phase}: ${error}`);
    }
  }
  printTable(
    [
      "model",
      "docs",
      "iters",
      "tokens",
      "cells",
      "cold p50",
      "cold p95",
      "warm p50",
      "warm p95",
      "triton p50",
      "triton p95",
      "cold/triton",
      "warm/triton",
      "cache hits cold/warm",
      "errors cold/warm",
    ],
    rows.map((row) => [
      row.model,
      String(row.documents),
      String(row.iterations),
      row.tokens.toFixed(0),
      row.cells.toFixed(0),
      row.cold.p50,
      row.cold.p95,
      row.warm.p50,
      row.warm.p95,
      row.triton.p50,
      row.triton.p95,
      row.ratioCold,
      row.ratioWarm,
      `${percent(row.cold.cacheHitRate)} / ${percent(row.warm.cacheHitRate)}`,
      `${listing(row.cold.errors)} / ${listing(row.warm.errors)}`,
    ]),
  );
}

/** Tokens per second of the tokenizer pool alone (as many threads as the gateway's), on 100-document requests. */
export async function measureTokenization(direct: DirectTriton, spec: ModelSpec, documents: Documents) {
  const tokenization = direct.tokenization(spec);
  const query = documents.queries[0]!;
  const chunks = Array.from({ length: Math.ceil(documents.short.length / 100) }, (_, i) =>
    documents.short.slice(i * 100, i * 100 + 100),
  );
  await direct.tokenizers.encodeRows(tokenization, query, chunks[0]!); // loads the tokenizer in the workers
  const started = performance.now();
  const encoded = await Promise.all(chunks.map((chunk) => direct.tokenizers.encodeRows(tokenization, query, chunk)));
  const seconds = (performance.now() - started) / 1000;
  const tokens = encoded.reduce((total, rows) => total + rows.tokenCount, 0);
  return {
    model: spec.name,
    pairs: documents.short.length,
    tokens,
    seconds,
    tokensPerSecond: tokens / seconds,
    pairsPerSecond: documents.short.length / seconds,
  };
}
