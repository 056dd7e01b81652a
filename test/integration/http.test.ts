/**
 * The HTTP/JSON API with the real curl binary against the built gateway and the real Triton: Cohere/Jina's and
 * TEI's shapes answer what the gRPC API answers for the same request, and every failure has the status and JSON
 * body those clients expect.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { LongDocuments, type RerankRequest, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import { clearFault, setFault, watchCancellations } from "../support/faults.js";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";
import { metric, poll } from "../support/metrics.js";
import { freePort } from "../support/ports.js";

const root = join(import.meta.dirname, "..", "..");
const samplePath = join(root, "examples/sample-request.json");
const sample = JSON.parse(readFileSync(samplePath, "utf8")) as { query: string; documents: string[] };
const MODEL = "tiny-bert-reranker";
const words = (count: number) => Array.from({ length: count }, (_, i) => `word${i % 97}`).join(" ");
const scratch = mkdtempSync(join(tmpdir(), "rerank-http-test-"));

interface HttpAnswer {
  status: number;
  /** Lower-case names, each header's last value. */
  headers: Record<string, string>;
  /** The JSON body under test (undefined when empty). */
  body: any;
  /** How long curl took, in milliseconds. */
  ms: number;
}

let files = 0;
/** Runs the real curl binary on `url` with `args`; the answer's status, headers and JSON body. */
async function curl(url: string, ...args: string[]): Promise<HttpAnswer> {
  const bodyFile = join(scratch, `body-${files++}`);
  writeFileSync(bodyFile, "");
  const started = Date.now();
  const { stdout } = await promisify(execFile)("curl", [
    "-sS",
    "-o",
    bodyFile,
    "-w",
    "%{http_code}\n%{header_json}",
    url,
    ...args,
  ]);
  const ms = Date.now() - started;
  const [code, headerJson] = [stdout.slice(0, stdout.indexOf("\n")), stdout.slice(stdout.indexOf("\n") + 1)];
  const headers = Object.fromEntries(
    Object.entries(JSON.parse(headerJson) as Record<string, string[]>).map(([name, values]) => [name, values.at(-1)!]),
  );
  const text = readFileSync(bodyFile, "utf8");
  return { status: Number(code), headers, body: text ? JSON.parse(text) : undefined, ms };
}

/** POSTs `body` as JSON (from a file, as `-d @file` in the README). */
function post(gateway: RunningGateway, path: string, body: unknown, ...args: string[]): Promise<HttpAnswer> {
  const file = join(scratch, `request-${files++}.json`);
  writeFileSync(file, typeof body === "string" ? body : JSON.stringify(body));
  return curl(`${gateway.httpUrl}${path}`, "-H", "content-type: application/json", "--data-binary", `@${file}`, ...args);
}

/** The (index, score) ranking of a gRPC answer and of each HTTP shape: the same request must give the same one. */
const grpcRanking = (response: RerankResponse) => response.results.map(({ index, score }) => ({ index, score }));
const cohereRanking = (answer: HttpAnswer) =>
  answer.body.results.map(({ index, relevance_score }: { index: number; relevance_score: number }) => ({
    index,
    score: relevance_score,
  }));
const teiRanking = (answer: HttpAnswer) =>
  answer.body.map(({ index, score }: { index: number; score: number }) => ({ index, score }));

let gateway: RunningGateway;
beforeAll(async () => {
  gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl") });
});
afterAll(() => gateway?.stop());

describe("Cohere and Jina: POST /v1/rerank and /v2/rerank", () => {
  it("the README's curl reranks the sample as gRPC does, in Cohere's shape with Jina's usage", async () => {
    const answer = await curl(`${gateway.httpUrl}/v1/rerank`, "-H", "content-type: application/json", "-d", `@${samplePath}`);
    const grpc = await gateway.rerank({ ...sample, returnDocuments: true, truncate: true });
    expect(answer.status).toBe(200);
    expect(cohereRanking(answer)).toEqual(grpcRanking(grpc));
    for (const result of answer.body.results) expect(result.document).toEqual({ text: sample.documents[result.index] });
    expect(answer.body).toMatchObject({
      id: answer.headers["x-request-id"],
      meta: {
        api_version: { version: "1" },
        billed_units: { search_units: 1 },
        tokens: { input_tokens: Number(grpc.usage!.tokens) },
      },
      usage: { total_tokens: Number(grpc.usage!.tokens) },
      model: "all-minilm-l6-v2",
      degraded: false,
      degraded_reason: null,
    });
    expect(answer.body.meta.warnings).toBeUndefined();
    expect(new Set(answer.body.results.slice(0, 2).map((r: { index: number }) => r.index))).toEqual(new Set([0, 2]));
  });

  it("v2 with top_n and document objects: the gRPC ranking, documents echoed with their other fields", async () => {
    const documents = sample.documents.map((text, i) => ({ text, id: `doc-${i}` }));
    const answer = await post(gateway, "/v2/rerank", {
      model: MODEL,
      query: sample.query,
      documents,
      top_n: 3,
      return_documents: true,
    });
    const grpc = await gateway.rerank({
      model: MODEL,
      query: sample.query,
      documents: sample.documents,
      topN: 3,
      truncate: true,
    });
    expect(answer.status).toBe(200);
    expect(cohereRanking(answer)).toEqual(grpcRanking(grpc));
    expect(answer.body.results.map((r: { document: unknown }) => r.document)).toEqual(
      grpc.results.map((r) => documents[r.index]),
    );
    expect(answer.body.meta.api_version).toEqual({ version: "2" });
    expect(answer.body.model).toBe(MODEL);
  });

  it("without max_tokens_per_doc a long document is truncated to the model's window, as Cohere does, and meta.warnings says so (and that priority is not used)", async () => {
    const documents = ["short", words(600)];
    const answer = await post(gateway, "/v2/rerank", { model: MODEL, query: sample.query, documents, priority: 1 });
    const grpc = await gateway.rerank({ model: MODEL, query: sample.query, documents, truncate: true });
    expect(answer.status).toBe(200);
    expect(cohereRanking(answer)).toEqual(grpcRanking(grpc));
    expect(answer.body.meta.warnings).toEqual([
      expect.stringMatching(/^documents 1: longer than model tiny-bert-reranker's window of 512 tokens/),
      "priority is not used: this gateway serves requests in arrival order",
    ]);
  });

  // Passes before and after the pipeline serves SPLIT_MAX: the HTTP answer is whatever gRPC answers to SPLIT_MAX.
  it("max_tokens_per_doc asks for long_documents SPLIT_MAX with max_tokens_per_document", async () => {
    const documents = ["short", words(1200)];
    const answer = await post(gateway, "/v2/rerank", { model: MODEL, query: sample.query, documents, max_tokens_per_doc: 1000 });
    const request: Partial<RerankRequest> = {
      model: MODEL,
      query: sample.query,
      documents,
      truncate: true,
      longDocuments: LongDocuments.LONG_DOCUMENTS_SPLIT_MAX,
      maxTokensPerDocument: 1000,
    };
    const grpc = await gateway.rerank(request).catch((error) => error as { code: status; details: string });
    if ("code" in grpc) {
      expect(grpc.code).toBe(status.INVALID_ARGUMENT);
      expect(answer.status).toBe(400);
      expect(answer.body.message).toBe(grpc.details);
    } else {
      expect(answer.status).toBe(200);
      expect(cohereRanking(answer)).toEqual(grpcRanking(grpc));
      expect(answer.body.meta.warnings).toBeUndefined();
    }
  });

  it("honours and echoes x-request-id, and counts requests under api=http", async () => {
    const before = (await metric(gateway.metricsUrl, "rerank_requests_total", { api: "http", code: "OK", model: MODEL })) ?? 0;
    const answer = await post(
      gateway,
      "/v1/rerank",
      { model: MODEL, query: "q", documents: ["d"] },
      "-H",
      "x-request-id: trace-42",
    );
    expect(answer.headers["x-request-id"]).toBe("trace-42");
    expect(answer.body.id).toBe("trace-42");
    expect(await metric(gateway.metricsUrl, "rerank_requests_total", { api: "http", code: "OK", model: MODEL })).toBe(before + 1);
  });
});

describe("text-embeddings-inference: POST /rerank", () => {
  it("the README's TEI curl ranks as gRPC ranks the same request, on the default model", async () => {
    const body =
      '{"query": "Who wrote To Kill a Mockingbird?", "texts": ["Harper Lee wrote it.", "Moby-Dick is by Herman Melville."]}';
    const answer = await curl(`${gateway.httpUrl}/rerank`, "-H", "content-type: application/json", "-d", body);
    const { query, texts } = JSON.parse(body);
    expect(answer.status).toBe(200);
    expect(teiRanking(answer)).toEqual(grpcRanking(await gateway.rerank({ query, documents: texts })));
  });

  it("answers [{index, score}] sorted by score, as gRPC ranks the same request; raw_scores and return_text as TEI", async () => {
    const texts = sample.documents;
    const [plain, raw, withText] = [
      await post(gateway, "/rerank", { model: MODEL, query: sample.query, texts }),
      await post(gateway, "/rerank", { model: MODEL, query: sample.query, texts, raw_scores: true }),
      await post(gateway, "/rerank", { model: MODEL, query: sample.query, texts, return_text: true }),
    ];
    const grpc = await gateway.rerank({ model: MODEL, query: sample.query, documents: texts });
    const grpcRaw = await gateway.rerank({ model: MODEL, query: sample.query, documents: texts, rawScores: true });
    expect([plain.status, raw.status, withText.status]).toEqual([200, 200, 200]);
    expect(teiRanking(plain)).toEqual(grpcRanking(grpc));
    expect(teiRanking(raw)).toEqual(grpcRanking(grpcRaw));
    expect(Object.keys(plain.body[0]).sort()).toEqual(["index", "score"]);
    expect(withText.body).toEqual(grpc.results.map(({ index, score }) => ({ index, score, text: texts[index] })));
  });

  it("an over-long pair is 422 Validation unless truncate is set, TEI's default being false", async () => {
    const texts = ["short", words(600)];
    const refused = await post(gateway, "/rerank", { model: MODEL, query: sample.query, texts });
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({
      error: expect.stringMatching(/document 1: with the query it is over model tiny-bert-reranker's maximum of 512 tokens/),
      error_type: "Validation",
    });
    const truncated = await post(gateway, "/rerank", { model: MODEL, query: sample.query, texts, truncate: true });
    const grpc = await gateway.rerank({ model: MODEL, query: sample.query, documents: texts, truncate: true });
    expect(teiRanking(truncated)).toEqual(grpcRanking(grpc));
  });

  it.each([
    ["an empty texts", { query: "q", texts: [] }, 400, { error: "`texts` cannot be empty", error_type: "Empty" }],
    ["an empty query", { query: " ", texts: ["a"] }, 422, { error: "query must not be empty", error_type: "Validation" }],
    [
      "left truncation",
      { query: "q", texts: ["a"], truncation_direction: "left" },
      422,
      { error: 'body.truncation_direction must be "right" or must be "Right"', error_type: "Validation" },
    ],
    ["malformed JSON", "{", 400, { error: expect.stringMatching(/not valid JSON/), error_type: "Validation" }],
  ])("%s gets its TEI status and {error, error_type}", async (_name, body, code, expected) => {
    const answer = await post(gateway, "/rerank", body);
    expect(answer.status).toBe(code);
    expect(answer.body).toEqual(expected);
  });
});

describe("GET /v1/models, /health and /openapi.json", () => {
  it("lists the models as gRPC ListModels does", async () => {
    const answer = await curl(`${gateway.httpUrl}/v1/models`);
    const { models } = await gateway.listModels();
    expect(answer.body.models).toEqual(
      models.map((model) => ({
        id: model.name,
        name: model.name,
        family: model.family,
        max_length: model.maxLength,
        ready: model.ready,
        fallback: model.fallback || null,
        default: model.isDefault,
      })),
    );
    expect(answer.body.models.find((model: { default: boolean }) => model.default).id).toBe("all-minilm-l6-v2");
  });

  it("health is 200 while the default model is ready", async () => {
    const answer = await curl(`${gateway.httpUrl}/health`);
    expect(answer).toMatchObject({
      status: 200,
      body: { status: "serving", default_model: "all-minilm-l6-v2", draining: false },
    });
  });

  it("the OpenAPI document parses and lists every route with its request schema", async () => {
    const { body } = await curl(`${gateway.httpUrl}/openapi.json`);
    expect(body.openapi).toMatch(/^3\./);
    expect(Object.keys(body.paths).sort()).toEqual(["/health", "/rerank", "/v1/models", "/v1/rerank", "/v2/rerank"]);
    const schemaOf = (path: string) => body.paths[path].post.requestBody.content["application/json"].schema;
    expect(schemaOf("/v2/rerank").required).toEqual(["query", "documents"]);
    expect(Object.keys(schemaOf("/rerank").properties)).toEqual(
      expect.arrayContaining(["query", "texts", "truncate", "raw_scores", "return_text"]),
    );
  });
});

describe("Cohere/Jina errors: status and {id, message, detail}", () => {
  it.each([
    ["an empty query", { query: "", documents: ["a"] }, 400, /^query must not be empty$/],
    ["no documents", { query: "q", documents: [] }, 400, /^documents must not be empty$/],
    ["too many documents", { query: "q", documents: Array(1001).fill("d") }, 400, /1001 given, at most 1000/],
    [
      "a field the gateway does not know",
      { query: "q", documents: ["a"], relevant_spans: {} },
      400,
      /unknown field "relevant_spans"/,
    ],
    [
      "a top_n that is not a number",
      { query: "q", documents: ["a"], top_n: "3" },
      400,
      /^body.top_n must be integer or must be null$/,
    ],
    ["a document object without text", { query: "q", documents: [{ title: "t" }] }, 400, /body.documents\[0\] .*'text'/],
    [
      "an unknown model",
      { query: "q", documents: ["a"], model: "nope" },
      404,
      /"nope" .* available models: .*tiny-bert-reranker/,
    ],
  ])("%s gets its status", async (_name, body, code, message) => {
    const answer = await post(gateway, "/v2/rerank", body);
    expect(answer.status).toBe(code);
    expect(answer.body).toEqual({
      id: answer.headers["x-request-id"],
      message: expect.stringMatching(message),
      detail: answer.body.message,
    });
  });

  it("a multi-megabyte body over RERANK_MAX_MESSAGE_BYTES (8 MiB) is 413 on every route, before it is parsed", async () => {
    const documents = Array.from({ length: 9 }, () => "x".repeat(1024 * 1024));
    const cohere = await post(gateway, "/v1/rerank", { query: "q", documents });
    expect(cohere.status).toBe(413);
    expect(cohere.body.message).toBe(`the request body is over the limit of ${8 * 1024 * 1024} bytes`);
    const tei = await post(gateway, "/rerank", { query: "q", texts: documents });
    expect(tei.status).toBe(413);
    expect(tei.body).toEqual({ error: cohere.body.message, error_type: "Validation" });
  });

  it("an unknown route is 404 in the same shape", async () => {
    const answer = await curl(`${gateway.httpUrl}/v3/rerank`, "-X", "POST");
    expect(answer.status).toBe(404);
    expect(answer.body.message).toBe("no route POST /v3/rerank; see GET /openapi.json");
  });
});

describe("shedding, deadlines and disconnects (tiny-bert-reranker alone, 2 pairs of capacity, slowed in Triton)", () => {
  const documents = ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is by Herman Melville."];
  const body = { query: sample.query, documents };
  const delayMs = 1_500;
  // Longer than RERANK_DEFAULT_TIMEOUT_MS: only the request's deadline ends a slowed call, never its work budget.
  const latencyBudgetMs = 10_000;
  const defaultTimeoutMs = 5_000;
  let slow: RunningGateway;

  beforeAll(async () => {
    const registry = JSON.parse(readFileSync(join(root, "src/catalog/registry.json"), "utf8"));
    registry.models.find((model: { name: string }) => model.name === MODEL).routing = {
      capacityPairs: documents.length,
      latencyBudgetMs,
    };
    const registryFile = join(scratch, "registry.json");
    writeFileSync(registryFile, JSON.stringify(registry));
    slow = await startGateway({
      TRITON_GRPC_URL: inject("tritonGrpcUrl"),
      RERANK_REGISTRY: registryFile,
      RERANK_MODELS: MODEL,
      RERANK_DEFAULT_TIMEOUT_MS: String(defaultTimeoutMs),
    });
  });
  afterEach(() => clearFault(MODEL));
  afterAll(() => slow?.stop());

  it("a request while the model is at capacity is 429 at once, with Retry-After from the retry hint", async () => {
    setFault(MODEL, { delay_ms: delayMs });
    const first = post(slow, "/v1/rerank", body);
    const inFlight = await poll(
      () => metric(slow.metricsUrl, "rerank_pairs_in_flight", { model: MODEL }),
      (pairs) => pairs === documents.length,
    );
    expect(inFlight).toBe(documents.length);
    const shed = await post(slow, "/v1/rerank", body);
    expect(shed.status).toBe(429);
    expect(shed.ms).toBeLessThan(delayMs / 2);
    expect(shed.headers["retry-after"]).toBe(String(Math.ceil(latencyBudgetMs / 1000)));
    expect(shed.body.message).toMatch(/at capacity .* retry in 10000 ms/);
    const tei = await post(slow, "/rerank", { query: sample.query, texts: documents });
    expect([tei.status, tei.headers["retry-after"], tei.body.error_type]).toEqual([429, "10", "Overloaded"]);
    expect((await first).status).toBe(200);
  });

  it("x-request-timeout-ms shortens the deadline: 504 on time; it never extends RERANK_DEFAULT_TIMEOUT_MS", async () => {
    setFault(MODEL, { delay_ms: delayMs });
    const short = await post(slow, "/v1/rerank", body, "-H", "x-request-timeout-ms: 400");
    expect(short.status).toBe(504);
    expect(short.ms).toBeGreaterThanOrEqual(400);
    expect(short.ms).toBeLessThan(400 + 400);
    expect(short.body.message).toMatch(/deadline passed while waiting for Triton/);
    const tei = await post(slow, "/rerank", { query: sample.query, texts: documents }, "-H", "x-request-timeout-ms: 400");
    expect([tei.status, tei.body.error_type]).toEqual([504, "Backend"]);

    setFault(MODEL, { delay_ms: defaultTimeoutMs + 1_000 });
    const capped = await post(slow, "/v1/rerank", body, "-H", "x-request-timeout-ms: 60000");
    expect(capped.status).toBe(504);
    expect(capped.ms).toBeGreaterThanOrEqual(defaultTimeoutMs);
    expect(capped.ms).toBeLessThan(defaultTimeoutMs + 500);
    expect(capped.body.message).toMatch(/deadline passed while waiting for Triton/);
  });

  it("a bad x-request-timeout-ms is 400 naming the header", async () => {
    const answer = await post(slow, "/v1/rerank", body, "-H", "x-request-timeout-ms: soon");
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe('x-request-timeout-ms must be a whole number of milliseconds >= 1, got "soon"');
  });

  it("a client that goes away cancels the request and its Triton call (counted CANCELLED)", async () => {
    setFault(MODEL, { delay_ms: 3_000 });
    const cancellations = watchCancellations(MODEL);
    const gone = await post(slow, "/v1/rerank", body, "--max-time", "0.5").catch((error: { code: number }) => error);
    expect(gone).toMatchObject({ code: 28 }); // curl: operation timed out
    const seen = await poll(cancellations, (seenSoFar) => seenSoFar.length > 0, { timeoutMs: 2_000 });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.after_ms).toBeLessThan(1_500);
    const cancelled = () => metric(slow.metricsUrl, "rerank_requests_total", { api: "http", code: "CANCELLED" });
    expect(await poll(cancelled, (count) => count === 1)).toBe(1);
  });

  it("SIGTERM lets a request in flight finish before the gateway exits", async () => {
    const draining = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl"), RERANK_MODELS: MODEL });
    setFault(MODEL, { delay_ms: delayMs });
    const inFlight = post(draining, "/v1/rerank", body);
    await poll(
      () => metric(draining.metricsUrl, "rerank_pairs_in_flight", { model: MODEL }),
      (pairs) => pairs === documents.length,
    );
    await draining.stop();
    expect((await inFlight).status).toBe(200);
  });
});

describe("when Triton cannot serve", () => {
  it("Triton unreachable: 503 naming the endpoint, on both shapes; health 503", async () => {
    const endpoint = `127.0.0.1:${await freePort()}`;
    const down = await startGateway({ TRITON_GRPC_URL: endpoint }, "answering");
    try {
      const cohere = await post(down, "/v2/rerank", { query: "q", documents: ["d"] });
      expect(cohere.status).toBe(503);
      expect(cohere.body.message).toContain(`Triton at ${endpoint}`);
      expect((await grpcError(down.rerank({ query: "q", documents: ["d"] }))).code).toBe(status.UNAVAILABLE);
      const tei = await post(down, "/rerank", { query: "q", texts: ["d"] });
      expect([tei.status, tei.body.error_type]).toEqual([503, "Unhealthy"]);
      const health = await curl(`${down.httpUrl}/health`);
      expect(health).toMatchObject({ status: 503, body: { status: "not_serving", default_model_ready: false, draining: false } });
    } finally {
      await down.stop();
    }
  });
});
