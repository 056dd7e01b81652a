/**
 * The official Cohere Python SDK (pinned, ops/install-cohere-sdk.sh) with base_url at the gateway: ClientV2.rerank and
 * the v1 Client.rerank parse its answers into their own types, which equal the gRPC API's for the same request; an
 * unknown model raises the SDK's NotFoundError.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startGateway, type RunningGateway } from "../support/gateway.js";

const root = join(import.meta.dirname, "..", "..");
const python = join(root, ".venv-sdk", "bin", "python");
const script = join(import.meta.dirname, "cohere-sdk", "rerank_with_sdk.py");

const request = {
  model: "tiny-bert-reranker",
  query: "Who wrote To Kill a Mockingbird?",
  documents: [
    "To Kill a Mockingbird is a novel by Harper Lee published in 1960.",
    "The novel Moby-Dick was written by Herman Melville.",
    "Harper Lee was born in 1926 in Monroeville, Alabama.",
    "Jane Austen was an English novelist.",
    `A long passage: ${"the quick brown fox jumps over the lazy dog ".repeat(80)}`,
  ],
  top_n: 4,
};

interface SdkAnswer {
  id: string;
  results: { index: number; relevance_score: number; document?: string }[];
  api_version: string;
  search_units: number;
  input_tokens: number;
  warnings: string[] | null;
}

let gateway: RunningGateway;
let sdk: { v2: SdkAnswer; v1: SdkAnswer; not_found: { error: string; status: number; body: { message: string } } | null };

beforeAll(async () => {
  if (!existsSync(python)) throw new Error(`${python} is missing: run ops/install-cohere-sdk.sh (make test does)`);
  gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl") });
  const run = promisify(execFile)(python, [script, gateway.httpUrl]);
  run.child.stdin!.end(JSON.stringify(request));
  sdk = JSON.parse((await run).stdout);
});
afterAll(() => gateway?.stop());

describe("the Cohere Python SDK against the HTTP API", () => {
  it("ClientV2.rerank and Client.rerank parse the gRPC API's ranking for the same request", async () => {
    const grpc = await gateway.rerank({
      model: request.model,
      query: request.query,
      documents: request.documents,
      topN: request.top_n,
      truncate: true,
      returnDocuments: true,
    });
    const expected = grpc.results.map((result) => ({ index: result.index, relevance_score: result.score }));
    // The long passage is cut to the model's 512 tokens: the warning names it when it is among the results.
    const truncated = grpc.results.filter((result) => result.truncated).map((result) => result.index);
    const warnings =
      truncated.length > 0 ? [expect.stringMatching(new RegExp(`^documents ${truncated.join(", ")}: longer than`))] : null;
    expect(sdk.v2.results).toEqual(expected);
    expect(sdk.v1.results).toEqual(grpc.results.map((result, i) => ({ ...expected[i], document: result.document })));
    for (const [answer, version] of [
      [sdk.v2, "2"],
      [sdk.v1, "1"],
    ] as const) {
      expect(answer).toMatchObject({
        api_version: version,
        search_units: 1,
        input_tokens: Number(grpc.usage!.tokens),
        warnings: null,
      });
      expect(answer.id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("an unknown model raises the SDK's NotFoundError with the gateway's message", () => {
    expect(sdk.not_found).toMatchObject({ error: "NotFoundError", status: 404 });
    expect(sdk.not_found!.body.message).toMatch(/"no-such-model" is not served here; available models: .*tiny-bert-reranker/);
  });
});
