/**
 * Graceful drain against the real stack: SIGTERM while gRPC and HTTP calls are in flight on a model slowed by fault
 * injection. Health goes NOT_SERVING (503) at once, new calls are refused, the calls in flight all complete with the
 * scores the model gives without a drain, and the process exits 0; a call longer than the grace period is cut and
 * the process exits 1, saying so in its log.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, inject, it } from "vitest";
import { healthClient } from "../../tools/health-client.js";
import { clearFault, setFault } from "../support/faults.js";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";

const MODEL = "tiny-bert-reranker";
const query = "Who wrote To Kill a Mockingbird?";
const documents = ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is by Herman Melville.", "Jane Austen.", "Gatsby."];
const request = { query, documents, model: MODEL, disableFallback: true };
/** How long the slowed model holds each batch: long enough for every check below to run while the calls wait. */
const DELAY_MS = 2_500;
const CALLS_PER_API = 6;

/** The shipped registry with a work budget that outlasts the delayed batches, so no call fails on its own. */
function patientRegistry(): string {
  const registry = JSON.parse(readFileSync(join(import.meta.dirname, "../../src/catalog/registry.json"), "utf8"));
  registry.models.find((model: { name: string }) => model.name === MODEL).routing = { latencyBudgetMs: 30_000 };
  const file = join(mkdtempSync(join(tmpdir(), "rerank-registry-")), "registry.json");
  writeFileSync(file, JSON.stringify(registry));
  return file;
}

const gateways: RunningGateway[] = [];
afterEach(async () => {
  clearFault(MODEL);
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

async function gatewayWith(env: Record<string, string> = {}): Promise<RunningGateway> {
  const gateway = await startGateway({
    TRITON_GRPC_URL: inject("tritonGrpcUrl"),
    RERANK_MODELS: MODEL,
    RERANK_REGISTRY: patientRegistry(),
    ...env,
  });
  gateways.push(gateway);
  return gateway;
}

const httpRerank = (gateway: RunningGateway) =>
  fetch(`${gateway.httpUrl}/v1/rerank`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, documents, model: MODEL }),
  });

/** Waits until the gateway has logged that it drains (its SIGTERM handler ran). */
async function draining(gateway: RunningGateway): Promise<void> {
  while (!gateway.logRecords().some((record) => record.msg === "draining")) await sleep(10);
}

describe("graceful drain on SIGTERM", () => {
  it("answers every call in flight, reports NOT_SERVING and refuses new calls meanwhile, then exits 0", async () => {
    const gateway = await gatewayWith();
    // The reference: the same request before any fault or drain.
    const expected = (await gateway.rerank(request)).results.map(({ index, score }) => ({ index, score }));

    setFault(MODEL, { delay_ms: DELAY_MS });
    const started = Date.now();
    let settled = 0;
    const grpcCalls = Array.from({ length: CALLS_PER_API }, () => gateway.rerank(request).finally(() => settled++));
    const httpCalls = Array.from({ length: CALLS_PER_API }, () =>
      httpRerank(gateway)
        .then(async (response) => ({ status: response.status, body: await response.json() }))
        .finally(() => settled++),
    );
    // The calls are in the gateway (and Triton) before the signal.
    await sleep(500);
    gateway.kill("SIGTERM");
    await draining(gateway);

    const health = healthClient(gateway.address);
    try {
      expect(await health.check("")).toBe("NOT_SERVING");
      expect(await health.check("rerank.v1.RerankService")).toBe("NOT_SERVING");
    } finally {
      health.close();
    }
    expect((await fetch(`${gateway.httpUrl}/health`)).status).toBe(503);
    const refused = await grpcError(gateway.rerank(request));
    expect(refused.code).toBe(status.UNAVAILABLE);
    expect(refused.details).toContain("shutting down");
    expect((await httpRerank(gateway)).status).toBe(503);
    // All of that happened while the calls were still running.
    expect(settled).toBe(0);
    expect(Date.now() - started).toBeLessThan(DELAY_MS);

    const [grpcResponses, httpResponses] = await Promise.all([Promise.all(grpcCalls), Promise.all(httpCalls)]);
    for (const response of grpcResponses) {
      expect(response.results.map(({ index, score }) => ({ index, score }))).toEqual(expected);
    }
    for (const { status: code, body } of httpResponses) {
      expect(code).toBe(200);
      const results = body.results.map((r: { index: number; relevance_score: number }) => ({
        index: r.index,
        score: r.relevance_score,
      }));
      expect(results).toHaveLength(expected.length);
      results.forEach((result: { index: number; score: number }, rank: number) => {
        expect(result.index).toBe(expected[rank]!.index);
        expect(result.score).toBeCloseTo(expected[rank]!.score, 6);
      });
    }
    expect(await gateway.exited).toBe(0);
    expect(gateway.logRecords()).toContainEqual(expect.objectContaining({ msg: "drained" }));
  });

  it("cuts a call longer than the grace period at the grace period and exits 1, logging how many it cut", async () => {
    const graceMs = 1_000;
    const gateway = await gatewayWith({ RERANK_DRAIN_GRACE_MS: String(graceMs) });
    setFault(MODEL, { delay_ms: 10_000 });
    const call = gateway.rerank(request);
    await sleep(500);
    const signalled = Date.now();
    gateway.kill("SIGTERM");

    const cut = await grpcError(call);
    const exitCode = await gateway.exited;
    const cutAfterMs = Date.now() - signalled;
    expect([status.CANCELLED, status.UNAVAILABLE]).toContain(cut.code);
    expect(exitCode).toBe(1);
    expect(cutAfterMs).toBeGreaterThanOrEqual(graceMs);
    expect(cutAfterMs).toBeLessThan(graceMs + 3_000);
    expect(gateway.logRecords()).toContainEqual(
      expect.objectContaining({ msg: "drain grace period ran out: cutting the calls still in flight", calls: 1, graceMs: 1000 }),
    );
  });
});
