/**
 * Sends examples/sample-request.json to a running gateway and prints the ranking as a table.
 * Usage: node dist/tools/rerank-sample.js [host:port]   (default 127.0.0.1:50051, or RERANK_ADDRESS)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { packageRoot } from "../src/config/paths.js";
import { RerankServiceClient, RerankRequest, type RerankResponse } from "../src/gen/rerank/v1/rerank.js";

const address = process.argv[2] ?? process.env.RERANK_ADDRESS ?? "127.0.0.1:50051";
const sample = JSON.parse(readFileSync(join(packageRoot(), "examples/sample-request.json"), "utf8"));
const request = RerankRequest.fromPartial({
  query: sample.query,
  documents: sample.documents,
  model: process.env.RERANK_MODEL ?? "",
  returnDocuments: true,
});

const client = new RerankServiceClient(address, credentials.createInsecure());
client.rerank(request, new Metadata(), { deadline: Date.now() + 30_000 }, (error, response?: RerankResponse) => {
  client.close();
  if (error || !response) {
    console.error(`Rerank failed: ${error?.message}`);
    process.exit(1);
  }
  const clip = (text: string, width: number) => (text.length > width ? text.slice(0, width - 1) + "…" : text);
  console.log(`query: ${request.query}`);
  console.log(
    `model: ${response.model}   pairs: ${response.usage?.pairs}   tokens: ${response.usage?.tokens}   ` +
      `total: ${response.timing?.totalMs.toFixed(1)} ms (tokenize ${response.timing?.tokenizeMs.toFixed(1)}, inference ${response.timing?.inferenceMs.toFixed(1)})`,
  );
  console.log("rank  index  score     document");
  response.results.forEach((result, rank) =>
    console.log(
      `${String(rank + 1).padStart(4)}  ${String(result.index).padStart(5)}  ${result.score.toFixed(5)}   ${clip(result.document ?? "", 90)}`,
    ),
  );
});
