/**
 * Which tokenizer library the gateway uses, on evidence: the napi binding of HF's Rust tokenizers
 * (`tokenizers`) against the pure-JS port (`@huggingface/tokenizers`), both behind the gateway's own
 * PairEncoder (same pair assembly), on 100-pair requests of msmarco-5k passages.
 *
 *   npm run build && node dist/bench/tokenizers.js [rounds] [sections: libraries,pool,large,head-of-line]
 *
 * Reports per library: mismatches against Python `tokenizers` (RERANK_PYTHON), and for sequential
 * requests in the calling thread: p50/p99 latency per request, pairs/s, tokens/s, CPU ms per request
 * (all threads: napi parallelizes inside a request) and event-loop busy ms per request. Then the
 * production TokenizerPool (napi in worker threads) under concurrent requests, its token cache off and on
 * (warm after the first round). Then the workloads: a request with 2 documents of 3.6 MB (in the
 * calling thread with and without cutting texts before the tokenizer, and through the pool), and a small
 * request sent behind two large ones (two of 3.6 MB documents; two of 1000 passages): when each completes.
 * Results also go to bench/results/tokenizers-<date>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Tokenizer as PureJsTokenizer } from "@huggingface/tokenizers";
import { packageRoot } from "../src/config/paths.js";
import type { EncodedRows } from "../src/tokenization/encoded-rows.js";
import { PairEncoder, type TokenizationSpec } from "../src/tokenization/encoder.js";
import type { PieceTokenizer } from "../src/tokenization/tokenizer.js";
import { loadNativeTokenizer } from "../src/tokenization/native-tokenizer.js";
import { TokenizerPool } from "../src/tokenization/pool.js";
import { TRUNCATION_STRATEGIES } from "../src/catalog/families.js";
import * as parity from "./hf-reference.js";
import { bertTokenizerFile, joinPassages, nonAsciiSamples, readMsmarco } from "./test-data.js";

const pairsPerRequest = 100;
const concurrency = 4;
const rounds = Number(process.argv[2] ?? 3);
/** Sections to run (comma-separated second argument); all by default. */
const sections = new Set((process.argv[3] ?? "libraries,pool,large,head-of-line").split(","));
/** The workload: documents of 3.6 MB of text with whitespace (msmarco passages joined). */
const largeDocumentChars = 3_600_000;
const benchSpec: TokenizationSpec = {
  tokenizerFile: bertTokenizerFile,
  family: "bert",
  maxLength: 512,
  truncation: "longest_first",
};

function loadPureJsTokenizer(tokenizerFile: string): PieceTokenizer {
  const tokenizer = new PureJsTokenizer(JSON.parse(readFileSync(tokenizerFile, "utf8")), {});
  return {
    encodeWithoutSpecialTokens: async (texts) => texts.map((text) => tokenizer.encode(text, { add_special_tokens: false }).ids),
    tokenToId: (token) => tokenizer.token_to_id(token),
  };
}

const libraries = {
  "tokenizers (napi, Rust)": loadNativeTokenizer,
  "@huggingface/tokenizers (pure JS)": loadPureJsTokenizer,
};

type Encode = (request: parity.PairRequest) => Promise<EncodedRows>;

/** Pairs whose ids, type ids or truncated flag differ from Python tokenizers, over both strategies. */
async function countMismatches(encoder: PairEncoder, requests: readonly parity.PairRequest[]): Promise<Record<string, number>> {
  const mismatches: Record<string, number> = {};
  for (const truncation of TRUNCATION_STRATEGIES) {
    for (const maxLength of [128, 512]) {
      const spec = { ...benchSpec, truncation, maxLength };
      const reference = parity.hfReference(spec, requests);
      let count = 0;
      for (const [index, request] of requests.entries()) {
        const expected = reference.requests[index] ?? [];
        const actual = await encoder.encodeRows(spec, request.query, request.documents).then(parity.unpackPairs, () => null);
        count += expected.filter((pair, position) =>
          "error" in pair ? actual !== null : JSON.stringify(actual?.[position]) !== JSON.stringify(pair),
        ).length;
      }
      mismatches[`${truncation}@${maxLength}`] = count;
    }
  }
  return mismatches;
}

/** Runs every request `rounds` times with `inFlight` requests at once; latencies are per request. */
async function measure(encode: Encode, requests: readonly parity.PairRequest[], inFlight: number) {
  for (const request of requests.slice(0, 5)) {
    await encode(request); // warm-up: tokenizer load, JIT
  }
  const work = Array.from({ length: rounds }, () => requests).flat();
  const latencies: number[] = [];
  let tokens = 0;
  let next = 0;
  const eventLoopBefore = performance.eventLoopUtilization();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let request = work[next++]; request; request = work[next++]) {
        const requestStarted = performance.now();
        const batch = await encode(request);
        tokens += batch.tokenCount;
        latencies.push(performance.now() - requestStarted);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const eventLoop = performance.eventLoopUtilization(eventLoopBefore);
  latencies.sort((a, b) => a - b);
  const percentile = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0);
  const pairs = work.length * pairsPerRequest;
  return {
    requests: work.length,
    inFlight,
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
    pairsPerSecond: Math.round(pairs / seconds),
    tokensPerSecond: Math.round(tokens / seconds),
    cpuMsPerRequest: round((cpu.user + cpu.system) / 1000 / work.length),
    eventLoopBusyMsPerRequest: round(eventLoop.active / work.length),
  };
}

const round = (value: number) => Math.round(value * 100) / 100;

const timed = async (work: () => Promise<unknown>) => {
  const started = performance.now();
  await work();
  return round(performance.now() - started);
};

/** A pool with the tokenizer loaded in every thread. */
async function openPool(threads: number, cacheBytes = 0): Promise<TokenizerPool> {
  const pool = new TokenizerPool(threads, { cacheBytes });
  await pool.preload([benchSpec]);
  return pool;
}

/** Two large requests, then a small one, at once: when each completes, in ms from their submission. */
async function smallBehindTwoLarge(pool: TokenizerPool, query: string, large: readonly string[], small: readonly string[]) {
  const started = performance.now();
  const finished = (promise: Promise<unknown>) => promise.then(() => round(performance.now() - started));
  const [firstLargeMs, secondLargeMs, smallMs] = await Promise.all([
    finished(pool.encodeRows(benchSpec, query, large)),
    finished(pool.encodeRows(benchSpec, query, large)),
    finished(pool.encodeRows(benchSpec, query, small)),
  ]);
  return { smallMs, firstLargeMs, secondLargeMs };
}

/**
 * The scenario: a request with 2 documents of 3.6 MB, alone (in the calling thread and through a pool), and
 * then two such requests in flight while a small request (10 passages) arrives: how long the small one waits.
 */
async function measureLargeDocuments(passages: readonly string[], query: string) {
  const large = [0, 997].map((first) => joinPassages(passages, first, largeDocumentChars));
  const small = passages.slice(0, 10);
  const inThread = new PairEncoder();
  const inThreadUncut = new PairEncoder(undefined, { cutTexts: false });
  await inThread.encodeRows(benchSpec, query, small); // load the tokenizer
  await inThreadUncut.encodeRows(benchSpec, query, small);
  const inThreadMs = [];
  for (let run = 0; run < rounds; run++) {
    inThreadMs.push(await timed(() => inThread.encodeRows(benchSpec, query, large)));
  }
  // Tokenizing 7.2 MB whole takes seconds: once is enough.
  const inThreadWithoutCuttingMs = await timed(() => inThreadUncut.encodeRows(benchSpec, query, large));
  const results: Record<string, unknown> = { documentChars: largeDocumentChars, inThreadMs, inThreadWithoutCuttingMs };
  for (const threads of new Set([1, Math.max(1, availableParallelism() - 1)])) {
    const pool = await openPool(threads);
    const aloneMs = [];
    for (let run = 0; run < rounds; run++) {
      aloneMs.push(await timed(() => pool.encodeRows(benchSpec, query, large)));
    }
    results[`pool ${threads} thread(s)`] = { aloneMs, behindTwoLarge: await smallBehindTwoLarge(pool, query, large, small) };
    await pool.close();
  }
  return results;
}

/** Head-of-line blocking with ordinary passages: a 10-passage request behind two 1000-passage ones, one thread. */
async function measureHeadOfLine(passages: readonly string[], query: string) {
  const pool = await openPool(1);
  const large = passages.slice(0, 1000);
  const small = passages.slice(1000, 1010);
  const aloneMs = await timed(() => pool.encodeRows(benchSpec, query, large));
  const smallAloneMs = await timed(() => pool.encodeRows(benchSpec, query, small));
  const runs = [];
  for (let run = 0; run < rounds; run++) {
    runs.push(await smallBehindTwoLarge(pool, query, large, small));
  }
  await pool.close();
  return { largeAloneMs: aloneMs, smallAloneMs, behindTwoLarge: runs };
}

async function main(): Promise<void> {
  const { passages, queries } = readMsmarco();
  const requests: parity.PairRequest[] = queries.map((query, index) => ({
    query,
    documents: passages.slice(index * pairsPerRequest, (index + 1) * pairsPerRequest),
  }));
  const nonAsciiRequests = nonAsciiSamples.map((query) => ({ query, documents: nonAsciiSamples }));

  const results: Record<string, unknown> = {};
  if (sections.has("libraries")) {
    for (const [library, load] of Object.entries(libraries)) {
      const encoder = new PairEncoder(load);
      const encode: Encode = (request) => encoder.encodeRows(benchSpec, request.query, request.documents);
      results[library] = {
        mismatchedPairs: {
          msmarco: await countMismatches(encoder, requests),
          nonAscii: await countMismatches(encoder, nonAsciiRequests),
        },
        inThreadSequential: await measure(encode, requests, 1),
      };
      console.log(library, JSON.stringify(results[library], null, 2));
    }
  }
  if (sections.has("pool")) {
    const pools: Record<string, unknown> = {};
    const nativeEncoder = new PairEncoder();
    pools["tokenizers (napi) in-thread, sequential"] = await measure(
      (request) => nativeEncoder.encodeRows(benchSpec, request.query, request.documents),
      requests,
      1,
    );
    pools["tokenizers (napi) in-thread, concurrent"] = await measure(
      (request) => nativeEncoder.encodeRows(benchSpec, request.query, request.documents),
      requests,
      concurrency,
    );
    const threads = Math.max(1, availableParallelism() - 1);
    for (const [cache, cacheBytes] of [
      ["cache off", 0],
      ["cache 64 MiB, warm after round 1", 64 * 1024 * 1024],
    ] as const) {
      const pool = await openPool(threads, cacheBytes);
      pools[`TokenizerPool (napi, ${threads} worker threads), concurrent, ${cache}`] = await measure(
        (request) => pool.encodeRows(benchSpec, request.query, request.documents),
        requests,
        concurrency,
      );
      await pool.close();
    }
    console.log(JSON.stringify(pools, null, 2));
    Object.assign(results, pools);
  }
  if (sections.has("large")) {
    results.largeDocuments = await measureLargeDocuments(passages, queries[0] ?? "");
    console.log("large documents", JSON.stringify(results.largeDocuments, null, 2));
  }
  if (sections.has("head-of-line")) {
    results.headOfLine = await measureHeadOfLine(passages, queries[0] ?? "");
    console.log("head of line", JSON.stringify(results.headOfLine, null, 2));
  }

  const report = {
    date: new Date().toISOString(),
    cpus: availableParallelism(),
    cpu: cpus()[0]?.model,
    pairsPerRequest,
    results,
  };
  const folder = join(packageRoot(), "bench", "results");
  mkdirSync(folder, { recursive: true });
  const file = join(folder, `tokenizers-${report.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`written to ${file}`);
}

await main();
