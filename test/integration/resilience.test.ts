/**
 * Fallback under load and faults, against the real Triton: slow and failing primaries (run-time fault
 * injection in the CPU model), overload, deadlines, a Triton replica lost mid-load, and Triton killed and
 * restarted. The chain under test mirrors production's (mxbai-v2 -> mxbai-v1 -> MiniLM):
 * tiny-mxbai-v2-reranker -> tiny-deberta-reranker -> all-minilm-l6-v2.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Metadata, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, inject, it } from "vitest";
import { DegradedReason, RerankRequest, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import type { RoutingSettings } from "../../src/catalog/registry.js";
import { clearFault, setFault } from "../support/faults.js";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";
import { freePort } from "../support/ports.js";

const root = join(import.meta.dirname, "..", "..");
const [PRIMARY, SECOND, LAST] = ["tiny-mxbai-v2-reranker", "tiny-deberta-reranker", "all-minilm-l6-v2"];
const CHAIN = [PRIMARY, SECOND, LAST];
const documents = ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is by Herman Melville.", "Jane Austen.", "Gatsby."];
const query = "Who wrote To Kill a Mockingbird?";

/** The shipped registry with the chain's routing settings tightened so the tests run in seconds. */
function registryWithRouting(routing: Partial<RoutingSettings>): string {
  const registry = JSON.parse(readFileSync(join(root, "src/catalog/registry.json"), "utf8"));
  for (const model of registry.models) if (CHAIN.includes(model.name)) model.routing = routing;
  const file = join(mkdtempSync(join(tmpdir(), "rerank-registry-")), "registry.json");
  writeFileSync(file, JSON.stringify(registry));
  return file;
}

const gateways: RunningGateway[] = [];
async function chainGateway(routing: Partial<RoutingSettings>, env: Record<string, string> = {}): Promise<RunningGateway> {
  const gateway = await startGateway({
    TRITON_GRPC_URL: inject("tritonGrpcUrl"),
    RERANK_REGISTRY: registryWithRouting(routing),
    RERANK_MODELS: CHAIN.join(","),
    ...env,
  });
  gateways.push(gateway);
  return gateway;
}

afterEach(async () => {
  for (const model of CHAIN) clearFault(model);
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
});

/** The value of one labelled sample in the gateway's /metrics. */
async function metric(gateway: RunningGateway, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(gateway.metricsUrl)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

/** Sends requests one after another until `done` holds for a response (or the attempts run out). */
async function until(
  gateway: RunningGateway,
  done: (response: RerankResponse) => boolean,
  attempts = 40,
): Promise<RerankResponse[]> {
  const seen: RerankResponse[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const response = await gateway.rerank({ query, documents, model: PRIMARY }, { deadlineMs: 10_000 });
    seen.push(response);
    if (done(response)) return seen;
    await sleep(100);
  }
  throw new Error(`condition not reached in ${attempts} requests; last: ${JSON.stringify(seen.at(-1)?.model)}`);
}

const fast = { latencyBudgetMs: 400, volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 1_500 };

describe("a slow primary", () => {
  it("falls back (timeout, then breaker open), and traffic returns once the primary recovers", async () => {
    const gateway = await chainGateway(fast);
    expect((await gateway.rerank({ query, documents, model: PRIMARY })).degraded).toBe(false);

    setFault(PRIMARY, { delay_ms: 900 });
    const degraded = await until(gateway, (r) => r.degradedReason === DegradedReason.DEGRADED_REASON_BREAKER_OPEN);
    expect(degraded[0]).toMatchObject({
      model: SECOND,
      requestedModel: PRIMARY,
      degraded: true,
      degradedReason: DegradedReason.DEGRADED_REASON_TIMEOUT,
    });
    expect(degraded.every((r) => r.model === SECOND && r.degraded && r.results.length === documents.length)).toBe(true);

    clearFault(PRIMARY);
    const recovered = await until(gateway, (r) => !r.degraded);
    expect(recovered.at(-1)).toMatchObject({
      model: PRIMARY,
      requestedModel: PRIMARY,
      degradedReason: DegradedReason.DEGRADED_REASON_UNSPECIFIED,
    });
    expect(
      await metric(gateway, "rerank_fallbacks_total", `from="${PRIMARY}",to="${SECOND}",reason="timeout"`),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe("a failing primary", () => {
  it("opens its breaker, half-opens after the reset timeout, and closes on a successful probe", async () => {
    const gateway = await chainGateway(fast);
    const breaker = () => metric(gateway, "rerank_breaker_state", `model="${PRIMARY}"`);
    expect(await breaker()).toBe(0);

    setFault(PRIMARY, { failure_rate: 1 });
    const degraded = await until(gateway, (r) => r.degradedReason === DegradedReason.DEGRADED_REASON_BREAKER_OPEN);
    expect(degraded[0]!.degradedReason).toBe(DegradedReason.DEGRADED_REASON_PRIMARY_UNAVAILABLE);
    expect(await breaker()).toBe(2);

    clearFault(PRIMARY);
    await sleep(fast.resetTimeoutMs + 300);
    expect(await breaker()).toBe(1);
    const probe = await gateway.rerank({ query, documents, model: PRIMARY });
    expect(probe).toMatchObject({ model: PRIMARY, degraded: false });
    expect(await breaker()).toBe(0);
  });

  it("with fallback disabled, the client gets the primary's error instead of a smaller model", async () => {
    const gateway = await chainGateway(fast);
    setFault(PRIMARY, { failure_rate: 1 });
    const error = await grpcError(gateway.rerank({ query, documents, model: PRIMARY, disableFallback: true }));
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toContain("injected failure");
  });
});

describe("overload", () => {
  it("routes past full models, then answers RESOURCE_EXHAUSTED at once with a retry hint; no request hangs", async () => {
    const gateway = await chainGateway({ latencyBudgetMs: 10_000, capacityPairs: documents.length });
    for (const model of CHAIN) setFault(model, { delay_ms: 700 });
    const started = Date.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        gateway.rerank({ query, documents, model: PRIMARY }, { deadlineMs: 15_000 }).then((r) => ({ r, at: Date.now() })),
      ),
    );
    const served = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.r] : []));
    const rejected = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
    expect(served.map((r) => r.model).sort()).toEqual([...CHAIN].sort());
    expect(served.filter((r) => r.degraded).every((r) => r.degradedReason === DegradedReason.DEGRADED_REASON_OVER_CAPACITY)).toBe(
      true,
    );
    expect(rejected).toHaveLength(5);
    for (const error of rejected) {
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(Number(error.metadata.get("retry-after-ms")[0])).toBeGreaterThan(0);
    }
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("a client deadline shorter than the model's latency gets DEADLINE_EXCEEDED on time", async () => {
    const gateway = await chainGateway({ latencyBudgetMs: 10_000 });
    setFault(PRIMARY, { delay_ms: 1_500 });
    const started = Date.now();
    const error = await grpcError(
      gateway.rerank({ query, documents, model: PRIMARY, disableFallback: true }, { deadlineMs: 400 }),
    );
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(400 + 250);
  });
});

describe("cancellation", () => {
  it("a client that cancels cancels the gateway's in-flight Triton call", async () => {
    const gateway = await chainGateway({ latencyBudgetMs: 10_000 });
    setFault(PRIMARY, { delay_ms: 3_000 });
    const cancelled = () => metric(gateway, "rerank_requests_total", `model="${PRIMARY}",code="CANCELLED"`);
    const call = gateway.client.rerank(
      RerankRequest.fromPartial({ query, documents, model: PRIMARY, disableFallback: true }),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      () => undefined,
    );
    await sleep(300);
    call.cancel();
    // Well before the model's 3 s would have finished, the gateway's Triton call ends as CANCELLED, not OK.
    let count: number | undefined;
    for (let attempt = 0; attempt < 20 && !count; attempt++) {
      await sleep(50);
      count = await cancelled();
    }
    expect(count).toBe(1);
  });
});

describe("Triton replicas and restarts", () => {
  const tritonB = async () => {
    const env = {
      TRITON_RUN_DIR: join(root, ".run", "test-triton-b"),
      TRITON_GRPC_PORT: String(await freePort()),
      TRITON_HTTP_PORT: String(await freePort()),
      TRITON_METRICS_PORT: String(await freePort()),
    };
    const run = (...args: string[]) =>
      execFileSync("bash", [join(root, "ops/triton.sh"), ...args], { env: { ...process.env, ...env }, stdio: "inherit" });
    const kill = () => {
      execFileSync("bash", ["-c", `kill -9 "$(cat "${env.TRITON_RUN_DIR}/triton.pid")"`]);
    };
    return { url: `127.0.0.1:${env.TRITON_GRPC_PORT}`, start: () => run("start", LAST), stop: () => run("stop"), kill };
  };

  /** Bounded closed-loop load: `count` requests, `concurrency` at a time; returns each outcome in order. */
  async function load(
    gateway: RunningGateway,
    count: number,
    concurrency: number,
    onProgress: (sent: number) => Promise<void> | void,
  ) {
    const outcomes: (RerankResponse | { code: number })[] = [];
    let sent = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (sent < count) {
          const index = sent++;
          await onProgress(index);
          outcomes[index] = await gateway
            .rerank({ query, documents, model: LAST }, { deadlineMs: 5_000 })
            .catch((error) => ({ code: error.code }));
        }
      }),
    );
    return outcomes;
  }

  it("losing one replica mid-load loses no request; the lost endpoint is ejected", async () => {
    const replica = await tritonB();
    replica.start();
    try {
      const gateway = await startGateway({ TRITON_GRPC_URL: `${replica.url},${inject("tritonGrpcUrl")}`, RERANK_MODELS: LAST });
      gateways.push(gateway);
      const outcomes = await load(gateway, 60, 4, (sent) => (sent === 20 ? replica.kill() : undefined));
      expect(outcomes.filter((o) => "code" in o)).toEqual([]);
      expect(await metric(gateway, "rerank_triton_endpoint_up", `endpoint="${replica.url}"`)).toBe(0);
    } finally {
      replica.stop();
    }
  });

  it("Triton killed and restarted: clean UNAVAILABLE during the gap, full recovery after", async () => {
    const triton = await tritonB();
    triton.start();
    try {
      const gateway = await startGateway({ TRITON_GRPC_URL: triton.url, RERANK_MODELS: LAST });
      gateways.push(gateway);
      expect((await gateway.rerank({ query, documents })).model).toBe(LAST);
      triton.kill();
      const during = await load(gateway, 10, 2, () => sleep(50));
      expect(during.filter((o) => "code" in o).map((o) => (o as { code: number }).code)).toEqual(
        Array(10).fill(status.UNAVAILABLE),
      );
      triton.start();
      // The gateway's channel reconnects with a short backoff: within a few seconds requests succeed again.
      const recovery = await load(gateway, 20, 1, () => sleep(250));
      expect(recovery.some((o) => !("code" in o))).toBe(true);
      const steady = await load(gateway, 10, 2, () => undefined);
      expect(steady.filter((o) => "code" in o)).toEqual([]);
    } finally {
      triton.stop();
    }
  });
});
