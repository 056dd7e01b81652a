/**
 * Load test of a running gateway (make up) with Rerank requests built from msmarco-5k passages, in one of two modes:
 *  - rate: open loop, requests start at a fixed rate for --duration seconds whether or not earlier ones have
 *    answered, so an overloaded gateway shows as latency and errors instead of quietly lowering the load;
 *  - concurrency: closed loop, for each level N workers each send their next request when the last one answers,
 *    for --duration seconds per level.
 * Per step it reports the offered load, achieved rps (successes per second), p50/p95/p99 latency of the
 * successes, errors by gRPC status, the share of successes each model scored (response.model) and the degraded
 * share. Prints a table and writes bench/results/loadtest-<mode>.json.
 * Usage: npm run loadtest -- [--mode rate|concurrency] [--rate 10] [--concurrency 1,2,4,8,16] [--duration 10]
 *          [--documents 20] [--model NAME] [--deadline-ms 5000] [--disable-fallback]
 * Env: RERANK_ADDRESS (127.0.0.1:50051; loopback only), BEIR_DIR (../shared/data/beir/msmarco-5k).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { packageRoot } from "../src/config/paths.js";
import { loadBeir, type BeirDataset } from "./beir.js";
import { closedLoop } from "./closed-loop.js";
import { errorsByStatus, Gateway, type Outcome } from "./gateway-client.js";
import { countBy, listing, percent, percentile, pick, printTable, seededRandom } from "./stats.js";

const MAX_REQUESTS_PER_STEP = 100_000;
const WARM_UP_REQUESTS = 3;
/** Statuses that mean the load test itself is wrong (unknown model, bad flags), not that the gateway is loaded or
 * failing over: the warm-up stops on these only, so faults under test do not abort the run. */
const MISCONFIGURED_STATUSES = new Set(["NOT_FOUND", "INVALID_ARGUMENT", "UNIMPLEMENTED"]);

const USAGE =
  "usage: npm run loadtest -- [--mode rate|concurrency] [--rate R] [--concurrency 1,2,4] [--duration S] " +
  "[--documents N] [--model NAME] [--deadline-ms MS] [--disable-fallback]";

interface Step {
  offered: string;
  sent: number;
  succeeded: number;
  elapsedSeconds: number;
  achievedRps: number;
  latencyMs: { p50: number; p95: number; p99: number };
  errorsByStatus: Record<string, number>;
  modelShare: Record<string, number>;
  degradedShare: number;
}

function usageError(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function positiveNumber(flag: string, text: string, { integer }: { integer: boolean }): number {
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    usageError(`--${flag} must be a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function loadPassagesOrExit(dir: string): BeirDataset {
  try {
    return loadBeir(dir);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}

function loopbackAddress(address: string): string {
  const host = address.slice(0, address.lastIndexOf(":"));
  if (host !== "localhost" && host !== "[::1]" && !/^127(\.\d{1,3}){3}$/.test(host)) {
    usageError(`RERANK_ADDRESS=${address}: the load test only targets loopback addresses (127.x.x.x, localhost, [::1])`);
  }
  return address;
}

const { values: flags } = parseArgs({
  options: {
    mode: { type: "string", default: "concurrency" },
    rate: { type: "string", default: "10" },
    concurrency: { type: "string", default: "1,2,4,8,16" },
    duration: { type: "string", default: "10" },
    documents: { type: "string", default: "20" },
    model: { type: "string", default: "" },
    "deadline-ms": { type: "string", default: "5000" },
    "disable-fallback": { type: "boolean", default: false },
  },
});
if (flags.mode !== "rate" && flags.mode !== "concurrency") usageError(`--mode must be rate or concurrency, got ${flags.mode}`);
const mode = flags.mode;
const durationSeconds = positiveNumber("duration", flags.duration, { integer: false });
const rate = positiveNumber("rate", flags.rate, { integer: false });
const concurrencyLevels = flags.concurrency.split(",").map((level) => positiveNumber("concurrency", level, { integer: true }));
const documentCount = positiveNumber("documents", flags.documents, { integer: true });
const deadlineMs = positiveNumber("deadline-ms", flags["deadline-ms"], { integer: true });
const arrivals = Math.round(rate * durationSeconds);
if (mode === "rate" && !(arrivals >= 1 && arrivals <= MAX_REQUESTS_PER_STEP)) {
  usageError(`--rate × --duration must make 1 to ${MAX_REQUESTS_PER_STEP} requests, got ${arrivals}`);
}
const address = loopbackAddress(process.env.RERANK_ADDRESS ?? "127.0.0.1:50051");
const beirDir = process.env.BEIR_DIR ?? join(packageRoot(), "..", "shared", "data", "beir", "msmarco-5k");

const dataset = loadPassagesOrExit(beirDir);
const random = seededRandom(42);
const gateway = new Gateway(address);

function send(): Promise<Outcome> {
  return gateway.send(
    {
      query: pick(random, dataset.queries).text,
      documents: Array.from({ length: documentCount }, () => pick(random, dataset.corpus).text),
      model: flags.model,
      truncate: true, // passages longer than a small model's maximum must not turn into INVALID_ARGUMENT
      disableFallback: flags["disable-fallback"],
    },
    deadlineMs,
  );
}

/** Fails fast and clearly when no gateway listens or the requests are invalid; also loads the tokenizers. */
async function connectAndWarmUp(): Promise<void> {
  await gateway.waitForReady();
  for (let i = 0; i < WARM_UP_REQUESTS; i++) {
    const outcome = await send();
    if (!outcome.ok && MISCONFIGURED_STATUSES.has(outcome.statusName)) {
      throw new Error(`warm-up request failed: ${outcome.statusName}: ${outcome.details}`);
    }
  }
}

function shares(values: string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(countBy(values)).map(([value, count]) => [value, count / values.length]));
}

function summarize(offered: string, outcomes: Outcome[], elapsedMs: number): Step {
  const successes = outcomes.flatMap((outcome) => (outcome.ok ? [outcome] : []));
  const latencies = successes.map((outcome) => outcome.latencyMs);
  return {
    offered,
    sent: outcomes.length,
    succeeded: successes.length,
    elapsedSeconds: elapsedMs / 1000,
    achievedRps: successes.length / (elapsedMs / 1000),
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
    errorsByStatus: errorsByStatus(outcomes),
    modelShare: shares(successes.map((outcome) => outcome.response.model)),
    degradedShare: successes.length ? successes.filter((outcome) => outcome.response.degraded).length / successes.length : 0,
  };
}

/** Open loop: arrival i is due at i / rate seconds; every due arrival is sent at once, so a late timer cannot
 * lower the offered load. */
async function runAtRate(): Promise<Step> {
  const pending: Promise<Outcome>[] = [];
  const started = performance.now();
  const dueMs = (arrival: number) => started + (arrival * 1000) / rate;
  while (pending.length < arrivals) {
    while (pending.length < arrivals && dueMs(pending.length) <= performance.now()) pending.push(send());
    if (pending.length < arrivals) await sleep(dueMs(pending.length) - performance.now());
  }
  const outcomes = await Promise.all(pending); // each ends by its deadline
  return summarize(`${rate} rps`, outcomes, performance.now() - started);
}

/** Closed loop: `concurrency` workers, each sending its next request when the previous one answers. */
async function runAtConcurrency(concurrency: number): Promise<Step> {
  const started = performance.now();
  const outcomes = await closedLoop(concurrency, started + durationSeconds * 1000, send, MAX_REQUESTS_PER_STEP);
  return summarize(`${concurrency} concurrent`, outcomes, performance.now() - started);
}

function printSteps(steps: Step[]): void {
  printTable(
    ["offered", "sent", "ok", "achieved rps", "p50 ms", "p95 ms", "p99 ms", "errors", "served by", "degraded"],
    steps.map((step) => [
      step.offered,
      String(step.sent),
      String(step.succeeded),
      step.achievedRps,
      step.latencyMs.p50,
      step.latencyMs.p95,
      step.latencyMs.p99,
      listing(step.errorsByStatus, String),
      listing(step.modelShare, (share) => percent(share, 1)),
      percent(step.degradedShare, 1),
    ]),
  );
}

async function main(): Promise<void> {
  const model = flags.model || "(gateway default)";
  console.log(
    `gateway ${address}, model ${model}, ${documentCount} documents/request, deadline ${deadlineMs} ms, ` +
      `fallback ${flags["disable-fallback"] ? "disabled" : "allowed"}, ${durationSeconds} s per step; ` +
      `${cpus().length} CPUs (${cpus()[0]?.model}) shared with the gateway and Triton`,
  );
  await connectAndWarmUp();
  const steps: Step[] = [];
  if (mode === "rate") {
    steps.push(await runAtRate());
  } else {
    for (const concurrency of concurrencyLevels) steps.push(await runAtConcurrency(concurrency));
  }
  console.log(`\nRerank under load (${mode} mode; latency of successful responses)`);
  printSteps(steps);
  const resultsDir = join(packageRoot(), "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const resultFile = join(resultsDir, `loadtest-${mode}.json`);
  const result = {
    date: new Date().toISOString(),
    mode,
    address,
    model,
    documents: documentCount,
    durationSeconds,
    deadlineMs,
    disableFallback: flags["disable-fallback"],
    steps,
  };
  writeFileSync(resultFile, JSON.stringify(result, null, 2));
  console.log(`\nwrote ${resultFile}`);
}

main()
  .catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  })
  .finally(() => gateway.close());
