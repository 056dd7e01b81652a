/**
 * End-to-end benchmark against a running stack (ops/stack.sh up):
 *  - Rerank latency p50/p95 through the gateway for 10, 100 and 1000 msmarco-5k passages;
 *  - the same pairs, tokenized beforehand, sent straight to Triton's ModelInfer: the gateway's added cost is
 *    the ratio of the two, measured in the same run;
 *  - tokenization throughput (tokens/s) of the gateway's tokenizer pool.
 * Prints a table and writes bench/results/e2e.json.
 * Env: RERANK_ADDRESS (127.0.0.1:50051), TRITON_GRPC_URL (127.0.0.1:8001), BEIR_DIR (../shared/data/beir/msmarco-5k).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { credentials, Metadata } from "@grpc/grpc-js";
import { planBatches } from "../src/pipeline/batching.js";
import { loadConfig } from "../src/config/config.js";
import { packageRoot } from "../src/config/paths.js";
import { RerankRequest, RerankServiceClient, type RerankResponse } from "../src/gen/rerank/v1/rerank.js";
import { FAMILIES } from "../src/catalog/families.js";
import { loadRegistry } from "../src/catalog/registry.js";
import { withTimeout } from "../src/context.js";
import { ModelPipeline } from "../src/pipeline/scorer.js";
import { TokenizerPool } from "../src/tokenization/pool.js";
import { GatewayMetrics } from "../src/observability/metrics.js";
import { TritonClient } from "../src/triton/client.js";
import { TritonEndpoints } from "../src/triton/endpoints.js";
import { loadBeir } from "./beir.js";
import { percentile, printTable, seededRandom } from "./stats.js";

const config = loadConfig();
const gatewayAddress = process.env.RERANK_ADDRESS ?? "127.0.0.1:50051";
const beirDir = process.env.BEIR_DIR ?? join(packageRoot(), "..", "shared", "data", "beir", "msmarco-5k");
const sizes = [
  { documents: 10, iterations: 40 },
  { documents: 100, iterations: 20 },
  { documents: 1000, iterations: 6 },
];

const dataset = loadBeir(beirDir);
const registry = loadRegistry(config.registryFile, config.serving);
const spec = registry.models.get(process.env.RERANK_MODEL ?? registry.defaultModel)!;
const triton = new TritonEndpoints(
  config.tritonUrls.map((url) => new TritonClient(url, config.maxMessageBytes)),
  new GatewayMetrics(),
);
const tokenizers = new TokenizerPool(config.tokenizerThreads);
const pipeline = new ModelPipeline(spec, config.tokenizerDir, tokenizers, triton);
const gateway = new RerankServiceClient(gatewayAddress, credentials.createInsecure(), { "grpc.max_send_message_length": -1 });
const random = seededRandom(42);

function drawRequest(count: number): { query: string; documents: string[] } {
  const query = dataset.queries[Math.floor(random() * dataset.queries.length)]!.text;
  const documents = Array.from({ length: count }, () => dataset.corpus[Math.floor(random() * dataset.corpus.length)]!.text);
  return { query, documents };
}

function viaGateway(query: string, documents: string[]): Promise<RerankResponse> {
  return new Promise((resolve, reject) =>
    gateway.rerank(
      RerankRequest.fromPartial({ query, documents, model: spec.name, truncate: true }),
      new Metadata(),
      { deadline: Date.now() + 120_000 },
      (error, response) => (error ? reject(error) : resolve(response)),
    ),
  );
}

/** The model-only cost: the same tensors the gateway would send, straight to ModelInfer. */
async function viaTritonDirect(query: string, documents: string[]): Promise<number> {
  const encoded = await tokenizers.encodeRows(pipeline.tokenization, query, documents);
  const batches = planBatches(encoded, {
    maxBatchSize: spec.triton.maxBatchSize,
    paddingSide: FAMILIES[spec.family].paddingSide,
    padTokenId: spec.padTokenId,
    names: spec.triton.inputs,
  });
  const started = performance.now();
  await withTimeout(120_000, (context) =>
    Promise.all(batches.map((batch) => triton.infer(spec.triton.model, batch.tensors, spec.triton.output, context))),
  );
  return performance.now() - started;
}

async function measureLatency() {
  const rows = [];
  for (const { documents: count, iterations } of sizes) {
    const gatewayMs: number[] = [];
    const directMs: number[] = [];
    const tokens: number[] = [];
    for (let i = -2; i < iterations; i++) {
      const { query, documents } = drawRequest(count);
      // Alternate the order so neither path always runs on a warmer Triton.
      const direct = i % 2 === 0 ? await viaTritonDirect(query, documents) : undefined;
      const started = performance.now();
      const response = await viaGateway(query, documents);
      const elapsed = performance.now() - started;
      const directAfter = direct ?? (await viaTritonDirect(query, documents));
      if (i < 0) continue; // warm-up
      gatewayMs.push(elapsed);
      directMs.push(directAfter);
      tokens.push(Number(response.usage?.tokens ?? 0));
    }
    rows.push({
      documents: count,
      iterations,
      meanTokens: tokens.reduce((a, b) => a + b, 0) / tokens.length,
      gatewayP50: percentile(gatewayMs, 50),
      gatewayP95: percentile(gatewayMs, 95),
      tritonP50: percentile(directMs, 50),
      tritonP95: percentile(directMs, 95),
      ratioP50: percentile(gatewayMs, 50) / percentile(directMs, 50),
    });
  }
  return rows;
}

async function measureTokenization() {
  const query = dataset.queries[0]!.text;
  const documents = dataset.corpus.map((passage) => passage.text);
  const requests = Array.from({ length: Math.ceil(documents.length / 100) }, (_, i) => documents.slice(i * 100, i * 100 + 100));
  await tokenizers.encodeRows(pipeline.tokenization, query, requests[0]!); // load the tokenizer in the workers
  const started = performance.now();
  const encoded = await Promise.all(requests.map((chunk) => tokenizers.encodeRows(pipeline.tokenization, query, chunk)));
  const seconds = (performance.now() - started) / 1000;
  const tokenCount = encoded.reduce((sum, batch) => sum + batch.tokenCount, 0);
  return {
    pairs: documents.length,
    tokens: tokenCount,
    seconds,
    tokensPerSecond: tokenCount / seconds,
    pairsPerSecond: documents.length / seconds,
  };
}

async function main(): Promise<void> {
  console.log(
    `model ${spec.name} via gateway ${gatewayAddress} and Triton ${config.tritonUrls.join(", ")}; ${cpus().length} CPUs (${cpus()[0]?.model})`,
  );
  const latency = await measureLatency();
  console.log("\nRerank latency (ms): gateway end to end vs the same tensors sent straight to Triton");
  printTable(
    ["docs", "iters", "tokens", "gw p50", "gw p95", "triton p50", "triton p95", "gw/triton p50"],
    latency.map((r) => [
      String(r.documents),
      String(r.iterations),
      r.meanTokens.toFixed(0),
      r.gatewayP50,
      r.gatewayP95,
      r.tritonP50,
      r.tritonP95,
      r.ratioP50,
    ]),
  );
  const tokenization = await measureTokenization();
  console.log(
    `\nTokenization (${config.tokenizerThreads} worker threads, 100-pair requests): ` +
      `${tokenization.tokensPerSecond.toFixed(0)} tokens/s, ${tokenization.pairsPerSecond.toFixed(0)} pairs/s over ${tokenization.pairs} pairs`,
  );
  const out = join(packageRoot(), "bench", "results");
  mkdirSync(out, { recursive: true });
  const result = {
    date: new Date().toISOString(),
    model: spec.name,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    latency,
    tokenization,
  };
  writeFileSync(join(out, "e2e.json"), JSON.stringify(result, null, 2));
  console.log(`\nwrote ${join(out, "e2e.json")}`);
  gateway.close();
  triton.close();
  await tokenizers.close();
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
