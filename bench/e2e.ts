/**
 * `npm run bench` (`make bench`): the benchmarks of a running stack (make up), with the stock configuration.
 *  1. latency (latency.ts): gateway p50/p95 at 10, 100 and 1000 documents, cold and warm, against the same padded
 *     tensors sent straight to Triton; for the gateway's default model and tiny-bert-reranker (when served), whose
 *     model time is so small that the gateway's own cost shows; plus tokenization throughput;
 *  2. concurrency (mixed.ts): the mixed workload at 1, 2, 4, 8 and 16 clients: pairs/s, p50/p99, Triton requests per
 *     execution, padding efficiency, peak gateway RSS;
 *  3. head-of-line (head-of-line.ts): small requests' p99 with and without multi-megabyte documents in flight.
 * Parts 2 and 3 run on --load-model (default tiny-bert-reranker when served: the default model, all-MiniLM-L6-v2,
 * scores ~2,000 tokens/s on two CPU cores, so 16 clients of up to 500 documents would need hours, not seconds).
 * Prints a table per part and the issue's goals, writes bench/results/{latency,concurrency,head-of-line}.json and
 * bench/results/bench.svg.
 * Usage: npm run bench -- [--only latency,concurrency,head-of-line] [--models a,b] [--load-model NAME]
 *          [--concurrency 1,2,4,8,16] [--duration SECONDS]
 * Env: RERANK_ADDRESS (127.0.0.1:50051), TRITON_GRPC_URL (127.0.0.1:8001), RERANK_METRICS_URL
 *      (http://127.0.0.1:9464/metrics), TRITON_METRICS_URL (http://127.0.0.1:8002/metrics), BEIR_DIR (msmarco-5k).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadCatalog, type ModelSpec } from "../src/catalog/registry.js";
import { loadConfig } from "../src/config/config.js";
import { packageRoot } from "../src/config/paths.js";
import { Fresh, loadDocuments } from "./documents.js";
import { Gateway } from "./gateway-client.js";
import { measureHeadOfLine, printHeadOfLine } from "./head-of-line.js";
import { measureLatency, measureTokenization, printLatency } from "./latency.js";
import { printMixed, runMixedStep, type MixedStep } from "./mixed.js";
import { chartOf, printGoals, type BenchResults } from "./report.js";
import { checkMetricsEndpoints } from "./server-counters.js";
import { seededRandom } from "./stats.js";
import { DirectTriton } from "./triton-direct.js";

const PARTS = ["latency", "concurrency", "head-of-line"] as const;
const GATEWAY_COST_MODEL = "tiny-bert-reranker";
const USAGE =
  "usage: npm run bench -- [--only latency,concurrency,head-of-line] [--models a,b] [--load-model NAME] " +
  "[--concurrency 1,2,4,8,16] [--duration SECONDS]";

const { values: flags } = parseArgs({
  options: {
    only: { type: "string", default: PARTS.join(",") },
    models: { type: "string", default: "" },
    "load-model": { type: "string", default: "" },
    concurrency: { type: "string", default: "1,2,4,8,16" },
    duration: { type: "string", default: "15" },
  },
});

function usageError(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

const list = (text: string) =>
  text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
const parts = new Set(list(flags.only));
for (const part of parts) if (!(PARTS as readonly string[]).includes(part)) usageError(`--only: unknown part ${part}`);
const levels = list(flags.concurrency).map(Number);
if (levels.length === 0 || !levels.every((level) => Number.isInteger(level) && level > 0)) {
  usageError(`--concurrency must list positive integers, got ${flags.concurrency}`);
}
const duration = Number(flags.duration);
if (!(duration > 0)) usageError(`--duration must be a positive number of seconds, got ${flags.duration}`);

const resultsDir = join(packageRoot(), "bench", "results");

function commit(): string {
  try {
    const run = (...args: string[]) => execFileSync("git", args, { cwd: packageRoot(), encoding: "utf8" }).trim();
    return `${run("rev-parse", "--short", "HEAD")}${run("status", "--porcelain", "src") ? "+dirty src" : ""}`;
  } catch {
    return "unknown";
  }
}

function write(name: string, body: string): void {
  writeFileSync(join(resultsDir, name), body);
  console.log(`wrote ${join(resultsDir, name)}`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const catalog = loadCatalog(config.registryFile);
  const gateway = new Gateway();
  await gateway.waitForReady();
  await checkMetricsEndpoints();
  const served = await gateway.listModels();
  const defaultModel = served.find((model) => model.isDefault)?.name ?? served[0]!.name;
  const servedNames = new Set(served.map((model) => model.name));
  const specOf = (name: string): ModelSpec => {
    const spec = catalog.models.get(name);
    if (!spec || !servedNames.has(name))
      usageError(`model ${name} is not served by the gateway (served: ${[...servedNames].join(", ")})`);
    return spec;
  };
  const latencyModels = (
    flags.models ? list(flags.models) : [defaultModel, ...(servedNames.has(GATEWAY_COST_MODEL) ? [GATEWAY_COST_MODEL] : [])]
  ).map(specOf);
  const loadModel = specOf(flags["load-model"] || (servedNames.has(GATEWAY_COST_MODEL) ? GATEWAY_COST_MODEL : defaultModel));
  const loadModelNames = { name: loadModel.name, tritonModel: loadModel.triton.model };

  const machine = {
    commit: commit(),
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    loadAverageAtStart: loadavg()[0]!,
  };
  console.log(
    `gateway ${gateway.address} (default model ${defaultModel}), Triton ${config.tritonUrls.join(", ")}; commit ${machine.commit}; ` +
      `${machine.cpus} CPUs (${machine.cpu}), load average ${machine.loadAverageAtStart.toFixed(1)} shared with the stack`,
  );
  const documents = await loadDocuments(seededRandom(7));
  const fresh = new Fresh();
  mkdirSync(resultsDir, { recursive: true });
  const results: BenchResults = {};

  if (parts.has("latency")) {
    const direct = new DirectTriton(config);
    try {
      results.latency = [];
      for (const spec of latencyModels) {
        results.latency.push(...(await measureLatency(gateway, direct, spec, documents, fresh, seededRandom(42))));
      }
      const tokenization = await measureTokenization(direct, latencyModels[0]!, documents);
      console.log(
        "\n1. Rerank latency (ms), msmarco passages, truncate=true: gateway cold and warm vs the same tensors straight to Triton",
      );
      printLatency(results.latency);
      console.log(
        `Tokenization (${config.tokenizerThreads} worker threads, 100-document requests, ${tokenization.model}): ` +
          `${tokenization.tokensPerSecond.toFixed(0)} tokens/s, ${tokenization.pairsPerSecond.toFixed(0)} documents/s`,
      );
      write("latency.json", JSON.stringify({ ...machine, rows: results.latency, tokenization }, null, 2));
    } finally {
      await direct.close();
    }
  }

  if (parts.has("concurrency")) {
    const steps: MixedStep[] = [];
    for (const level of levels) {
      process.stderr.write(`mixed workload: ${level} clients for ${duration} s\n`);
      steps.push(await runMixedStep(gateway, loadModelNames, documents, fresh, level, duration));
    }
    results.concurrency = steps;
    console.log(`\n2. Mixed workload (${loadModel.name}): 5-500 documents per request, 30% of requests long documents`);
    printMixed(steps);
    write("concurrency.json", JSON.stringify({ ...machine, durationSeconds: duration, steps }, null, 2));
  }

  if (parts.has("head-of-line")) {
    process.stderr.write("head-of-line: quiet, loaded, quiet\n");
    results.headOfLine = await measureHeadOfLine(gateway, loadModel.name, documents, fresh);
    console.log(`\n3. Head-of-line blocking (${loadModel.name}): small requests (2-10 passages) quiet and beside heavy ones`);
    printHeadOfLine(results.headOfLine);
    write("head-of-line.json", JSON.stringify({ ...machine, ...results.headOfLine }, null, 2));
  }

  const loadAverageAtEnd = loadavg()[0]!;
  console.log(`\nGoals (load average ${machine.loadAverageAtStart.toFixed(1)} at start, ${loadAverageAtEnd.toFixed(1)} at end)`);
  printGoals(results);
  const note = `commit ${machine.commit}, ${machine.date.slice(0, 10)}; ${machine.cpus} CPUs (${machine.cpu}), no GPU, load average ${machine.loadAverageAtStart.toFixed(1)}`;
  write("bench.svg", chartOf(results, note));
  gateway.close();
}

main().catch((error) => {
  console.error(error instanceof Error ? (process.env.BENCH_DEBUG ? error.stack : error.message) : error);
  process.exit(1);
});
