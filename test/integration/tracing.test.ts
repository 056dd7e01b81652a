/**
 * Traces and logs of real requests: a gateway exporting OTLP/HTTP JSON to a receiver in this process, against the
 * real Triton. One request's span tree (a client's traceparent continued), a fallback's reason, the HTTP API, the
 * log lines that join the trace, and no exporter at all when the OTEL_* variables are unset.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RerankRequest, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import { clearFault, setFault } from "../support/faults.js";
import { startGateway, type RunningGateway } from "../support/gateway.js";

/** A span as OTLP/JSON writes it: hex ids, attributes as typed values. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** The OTLP/HTTP receiver: every span any exporter posted to /v1/traces, in arrival order. */
const received: OtlpSpan[] = [];
let receiver: Server;
let receiverUrl: string;

const [PRIMARY, SECOND, LAST] = ["tiny-mxbai-v2-reranker", "tiny-deberta-reranker", "all-minilm-l6-v2"];
const query = "Who wrote To Kill a Mockingbird?";
const documents = ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is by Herman Melville.", "Jane Austen."];

/** A client's own span: a W3C traceparent with fresh ids. */
function clientSpan(): { traceId: string; spanId: string; traceparent: string } {
  const [traceId, spanId] = [randomBytes(16).toString("hex"), randomBytes(8).toString("hex")];
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

function attributesOf(span: OtlpSpan): Record<string, unknown> {
  return Object.fromEntries(span.attributes.map(({ key, value }) => [key, Object.values(value)[0]]));
}

/** The spans of `traceId` once its root (`rerank`, which ends last) has been exported. */
async function traceOf(traceId: string): Promise<OtlpSpan[]> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    const spans = received.filter((span) => span.traceId === traceId);
    if (spans.some((span) => span.name === "rerank")) return spans;
  }
  throw new Error(`no rerank span of trace ${traceId} arrived within 10 s (${received.length} spans received)`);
}

function rerankWith(gateway: RunningGateway, request: Partial<RerankRequest>, headers: Record<string, string>) {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return new Promise<RerankResponse>((resolve, reject) =>
    gateway.client.rerank(RerankRequest.fromPartial(request), metadata, { deadline: Date.now() + 30_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

/** The gateway's JSON log lines about request `requestId`. */
function logLinesOf(gateway: RunningGateway, requestId: string): Record<string, unknown>[] {
  return gateway
    .logs()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.request_id === requestId);
}

let gateway: RunningGateway;

beforeAll(async () => {
  receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      if (request.url === "/v1/traces") {
        const { resourceSpans = [] } = JSON.parse(body) as { resourceSpans?: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const resource of resourceSpans) for (const scope of resource.scopeSpans) received.push(...scope.spans);
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  gateway = await startGateway({
    TRITON_GRPC_URL: inject("tritonGrpcUrl"),
    RERANK_MODELS: [PRIMARY, SECOND, LAST].join(","),
    RERANK_LOG_LEVEL: "debug",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
});

afterAll(async () => {
  clearFault(PRIMARY);
  await gateway?.stop();
  receiver?.close();
});

describe("tracing", () => {
  it("a gRPC request continues the client's trace: rerank → validate, route.attempt → tokenize, triton.infer", async () => {
    const client = clientSpan();
    const requestId = "trace-grpc-1";
    const response = await rerankWith(
      gateway,
      { query, documents, model: SECOND },
      { traceparent: client.traceparent, "x-request-id": requestId },
    );
    const spans = await traceOf(client.traceId);
    const named = (name: string) => spans.filter((span) => span.name === name);

    const [root] = named("rerank");
    expect(named("rerank")).toHaveLength(1);
    expect(root!.parentSpanId).toBe(client.spanId);
    expect(attributesOf(root!)).toMatchObject({
      "rerank.api": "grpc",
      "rerank.request_id": requestId,
      "rerank.documents": documents.length,
      "rerank.model.requested": SECOND,
      "rerank.model.served": response.model,
      "rerank.degraded": false,
    });
    expect(attributesOf(root!)).not.toHaveProperty("rerank.degraded_reason");

    expect(named("validate").map((span) => span.parentSpanId)).toEqual([root!.spanId]);
    const [attempt] = named("route.attempt");
    expect(named("route.attempt")).toHaveLength(1);
    expect(attempt!.parentSpanId).toBe(root!.spanId);
    expect(attributesOf(attempt!)).toEqual({ "route.model": SECOND, "route.outcome": "scored" });

    const [tokenize] = named("tokenize");
    expect(tokenize!.parentSpanId).toBe(attempt!.spanId);
    expect(attributesOf(tokenize!)).toMatchObject({
      "tokenize.model": SECOND,
      "tokenize.documents": documents.length,
      "tokenize.tokens": Number(response.usage!.tokens),
    });

    const calls = named("triton.infer");
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call.parentSpanId).toBe(attempt!.spanId);
      const attributes = attributesOf(call);
      expect(attributes).toMatchObject({ "triton.endpoint": inject("tritonGrpcUrl") });
      expect(String(attributes["triton.model"])).toContain("deberta");
      expect(Number(attributes["triton.cells"])).toBeGreaterThanOrEqual(Number(attributes["triton.rows"]));
    }
    const rows = calls.reduce((sum, call) => sum + Number(attributesOf(call)["triton.rows"]), 0);
    expect(rows).toBe(documents.length);
    // Every span of the request is in the client's trace: nothing started a trace of its own.
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([client.traceId]));

    const lines = logLinesOf(gateway, requestId);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ trace_id: client.traceId, msg: expect.any(String), level: "debug" });
    expect(lines.map((line) => line.span_id)).toContain(root!.spanId);
  });

  it("a fallback's route.attempt spans carry why the model asked for was passed over", async () => {
    const client = clientSpan();
    setFault(PRIMARY, { failure_rate: 1 });
    try {
      const response = await rerankWith(gateway, { query, documents, model: PRIMARY }, { traceparent: client.traceparent });
      expect(response.model).toBe(SECOND);
    } finally {
      clearFault(PRIMARY);
    }
    const spans = await traceOf(client.traceId);
    const root = spans.find((span) => span.name === "rerank")!;
    expect(attributesOf(root)).toMatchObject({
      "rerank.model.requested": PRIMARY,
      "rerank.model.served": SECOND,
      "rerank.degraded": true,
      "rerank.degraded_reason": "primary_unavailable",
    });
    const attempts = spans.filter((span) => span.name === "route.attempt").map(attributesOf);
    expect(attempts).toEqual([
      { "route.model": PRIMARY, "route.outcome": "primary_unavailable" },
      { "route.model": SECOND, "route.outcome": "scored", "route.fallback_reason": "primary_unavailable" },
    ]);
  });

  it("an HTTP request continues the client's trace too", async () => {
    const client = clientSpan();
    const answer = await fetch(`${gateway.httpUrl}/v1/rerank`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: client.traceparent, "x-request-id": "trace-http-1" },
      body: JSON.stringify({ model: SECOND, query, documents }),
    });
    expect(answer.status).toBe(200);
    const spans = await traceOf(client.traceId);
    const root = spans.find((span) => span.name === "rerank")!;
    expect(root.parentSpanId).toBe(client.spanId);
    expect(attributesOf(root)).toMatchObject({ "rerank.api": "http", "rerank.request_id": "trace-http-1" });
    expect(spans.map((span) => span.name).sort()).toEqual(
      expect.arrayContaining(["rerank", "route.attempt", "tokenize", "triton.infer", "validate"]),
    );
    expect(logLinesOf(gateway, "trace-http-1")[0]).toMatchObject({ trace_id: client.traceId });
  });

  it("with the OTEL_* variables unset, no exporter runs and log lines carry no trace id", async () => {
    // The traces endpoint alone does not turn tracing on: were an exporter running, it would post here.
    const untraced = await startGateway({
      TRITON_GRPC_URL: inject("tritonGrpcUrl"),
      RERANK_LOG_LEVEL: "debug",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiverUrl}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: "50",
    });
    try {
      const client = clientSpan();
      const before = received.length;
      await rerankWith(untraced, { query, documents }, { traceparent: client.traceparent, "x-request-id": "untraced-1" });
      await sleep(1_000);
      expect(received.length).toBe(before);
      const lines = logLinesOf(untraced, "untraced-1");
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).not.toHaveProperty("trace_id");
    } finally {
      await untraced.stop();
    }
  });
});
