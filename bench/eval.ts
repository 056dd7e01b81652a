/**
 * Quality check on a BEIR-format dataset through the running gateway: BM25 top-k, reranked by a model, scored
 * with nDCG@10, MRR@10 and Recall@k beside the BM25 baseline.
 * Usage: npm run eval -- --dataset <dir> [--model <name>] [--top 100] [--address 127.0.0.1:50051]
 */
import { parseArgs } from "node:util";
import type { RerankResponse } from "../src/gen/rerank/v1/rerank.js";
import { loadBeir, loadQrels } from "./beir.js";
import { Bm25Index } from "./bm25.js";
import { Gateway } from "./gateway-client.js";
import { mrrAt, ndcgAt, recallAt } from "./metrics.js";
import { printTable } from "./stats.js";

const { values: options } = parseArgs({
  options: {
    dataset: { type: "string" },
    model: { type: "string", default: "" },
    top: { type: "string", default: "100" },
    address: { type: "string", default: process.env.RERANK_ADDRESS ?? "127.0.0.1:50051" },
  },
});
if (!options.dataset) {
  console.error("usage: npm run eval -- --dataset <BEIR dir> [--model <name>] [--top 100] [--address host:port]");
  process.exit(2);
}
const top = Number(options.top);
const gateway = new Gateway(options.address!);

function rerank(query: string, documents: string[]): Promise<RerankResponse> {
  return gateway.rerank({ query, documents, model: options.model!, truncate: true }, 300_000);
}

function progress(done: number, total: number, started: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const rate = done / ((Date.now() - started) / 1000);
  process.stderr.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} queries, ${rate.toFixed(2)}/s`);
  if (done === total) process.stderr.write("\n");
}

async function main(): Promise<void> {
  const dataset = loadBeir(options.dataset!);
  const qrels = loadQrels(options.dataset!);
  const index = new Bm25Index(dataset.corpus.map((passage) => passage.text));
  const queries = dataset.queries.filter((query) => [...(qrels.get(query.id)?.values() ?? [])].some((grade) => grade > 0));
  const totals = { bm25: [0, 0, 0], reranked: [0, 0, 0] };
  let model = "";
  const started = Date.now();
  for (const [done, query] of queries.entries()) {
    const judged = qrels.get(query.id)!;
    const candidates = index.search(query.text, top).map(([doc]) => dataset.corpus[doc]!);
    const bm25Ranking = candidates.map((passage) => passage.id);
    const response = await rerank(
      query.text,
      candidates.map((passage) => passage.text),
    );
    model = response.model;
    const reranked = response.results.map((result) => candidates[result.index]!.id);
    for (const [key, ranking] of [
      ["bm25", bm25Ranking],
      ["reranked", reranked],
    ] as const) {
      totals[key][0]! += ndcgAt(ranking, judged, 10);
      totals[key][1]! += mrrAt(ranking, judged, 10);
      totals[key][2]! += recallAt(ranking, judged, top);
    }
    progress(done + 1, queries.length, started);
  }
  const mean = (values: number[]) => values.map((value) => value / queries.length);
  const [bm25, reranked] = [mean(totals.bm25), mean(totals.reranked)];
  console.log(
    `\n${options.dataset}: ${queries.length} queries with judgements, ${dataset.corpus.length} passages, BM25 top ${top}`,
  );
  printTable(
    ["metric", "BM25", `BM25 + ${model}`],
    ["nDCG@10", "MRR@10", `Recall@${top}`].map((metric, i) => [metric, bm25[i]!.toFixed(4), reranked[i]!.toFixed(4)]),
  );
  gateway.close();
}

main().catch((error) => {
  console.error(`\neval failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
