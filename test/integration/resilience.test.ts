/**
 * Fallback under load and faults, against the real Triton: slow and failing primaries (run-time fault
 * injection in the CPU model), a whole chain of open breakers, request-caused failures, overload, deadlines,
 * cancellation, a Triton replica lost mid-load and re-admitted, and Triton (or its default model) going away and
 * coming back. The chain under test mirrors production's (mxbai-v2 -> mxbai-v1 -> MiniLM):
 * tiny-mxbai-v2-reranker -> tiny-deberta-reranker -> all-minilm-l6-v2.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, inject, it } from "vitest";
import { DegradedReason, RerankRequest, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import type { RoutingSettings } from "../../src/catalog/registry.js";
import { clearFault, setFault, watchCancellations } from "../support/faults.js";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";
import { healthClient } from "../../tools/health-client.js";
import { metric, poll } from "../support/metrics.js";
import { tritonProcess } from "../support/triton-process.js";

const root = join(import.meta.dirname, "..", "..");
const [PRIMARY, SECOND, LAST] = ["tiny-mxbai-v2-reranker", "tiny-deberta-reranker", "all-minilm-l6-v2"];
const CHAIN = [PRIMARY, SECOND, LAST];
const documents = ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is by Herman Melville.", "Jane Austen.", "Gatsby."];
const query = "Who wrote To Kill a Mockingbird?";

/**
 * The shipped registry with the chain's routing settings tightened so the tests run in seconds: `routing` for
 * every model of the chain, with `perModel` on top.
 */
function registryWithRouting(routing: Partial<RoutingSettings>, perModel: Record<string, Partial<RoutingSettings>> = {}): string {
  const registry = JSON.parse(readFileSync(join(root, "src/catalog/registry.json"), "utf8"));
  for (const model of registry.models) if (CHAIN.includes(model.name)) model.routing = { ...routing, ...perModel[model.name] };
  const file = join(mkdtempSync(join(tmpdir(), "rerank-registry-")), "registry.json");
  writeFileSync(file, JSON.stringify(registry));
  return file;
}

/** Run after each test, last registered first (a gateway stops before the Triton it uses). */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const model of CHAIN) clearFault(model);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayFor(env: Record<string, string>): Promise<RunningGateway> {
  const gateway = await startGateway(env);
  cleanups.push(() => gateway.stop());
  return gateway;
}

function chainGateway(
  routing: Partial<RoutingSettings>,
  { env = {}, perModel = {} }: { env?: Record<string, string>; perModel?: Record<string, Partial<RoutingSettings>> } = {},
): Promise<RunningGateway> {
  return gatewayFor({
    TRITON_GRPC_URL: inject("tritonGrpcUrl"),
    RERANK_REGISTRY: registryWithRouting(routing, perModel),
    RERANK_MODELS: CHAIN.join(","),
    ...env,
  });
}

const gatewayMetric = (gateway: RunningGateway, name: string, labels: Record<string, string> = {}) =>
  metric(gateway.metricsUrl, name, labels);
/** One gauge per model of the chain, in chain order. */
const perChainModel = (gateway: RunningGateway, name: string) =>
  Promise.all(CHAIN.map((model) => gatewayMetric(gateway, name, { model })));

/** A request pinned to the primary: the client gets the primary's outcome or its error, never a fallback. */
const pinnedToPrimary = (gateway: RunningGateway, deadlineMs?: number) =>
  gateway.rerank({ query, documents, model: PRIMARY, disableFallback: true }, { deadlineMs });

/** Runs `call` and says how it ended and after how many milliseconds. */
async function timed<T>(call: () => Promise<T>): Promise<{ value?: T; error?: ServiceError; ms: number }> {
  const started = Date.now();
  try {
    const value = await call();
    return { value, ms: Date.now() - started };
  } catch (error) {
    return { error: error as ServiceError, ms: Date.now() - started };
  }
}

/**
 * Waits (up to `timeoutMs`) for the one request that `watch` follows to be seen cancelled inside Triton, by the
 * test model's is_cancelled() polling; returns how far into its delay the model saw it.
 */
async function cancelledInsideTriton(watch: () => { after_ms: number }[], timeoutMs = 1_000): Promise<number> {
  const seen = await poll(watch, (cancellations) => cancellations.length > 0, { timeoutMs });
  expect(seen, "cancellations the model saw inside Triton").toHaveLength(1);
  return seen[0]!.after_ms;
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

/**
 * A breaker that decides in seconds, and a work budget that is its fixed part alone: a call of these tiny models may
 * take 400 ms (the per-cell cost is set near zero, so the budget does not grow with the few hundred cells).
 */
const fast = {
  latencyBudgetMs: 400,
  msPerKiloCell: 0.001,
  volumeThreshold: 3,
  errorThresholdPercentage: 50,
  resetTimeoutMs: 1_500,
};
const BREAKER_OPEN = 2;

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
      await gatewayMetric(gateway, "rerank_fallbacks_total", { from: PRIMARY, to: SECOND, reason: "timeout" }),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe("a failing primary", () => {
  it("opens its breaker, half-opens after the reset timeout, and closes on a successful probe", async () => {
    const gateway = await chainGateway(fast);
    const breaker = () => gatewayMetric(gateway, "rerank_breaker_state", { model: PRIMARY });
    expect(await breaker()).toBe(0);

    setFault(PRIMARY, { failure_rate: 1 });
    const degraded = await until(gateway, (r) => r.degradedReason === DegradedReason.DEGRADED_REASON_BREAKER_OPEN);
    expect(degraded[0]!.degradedReason).toBe(DegradedReason.DEGRADED_REASON_PRIMARY_UNAVAILABLE);
    expect(await breaker()).toBe(BREAKER_OPEN);

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
    const error = await grpcError(pinnedToPrimary(gateway));
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toContain("injected failure");
  });

  it("with every breaker of the chain open, the answer is UNAVAILABLE, not RESOURCE_EXHAUSTED", async () => {
    // A reset timeout longer than the test: no breaker half-opens while it looks.
    const gateway = await chainGateway({ ...fast, resetTimeoutMs: 60_000 });
    for (const model of CHAIN) setFault(model, { failure_rate: 1 });
    // Each request fails on every model of the chain (INTERNAL) until all three breakers have opened.
    const states = await poll(
      async () => {
        await gateway.rerank({ query, documents, model: PRIMARY }).catch(() => undefined);
        return perChainModel(gateway, "rerank_breaker_state");
      },
      (breakers) => breakers.every((state) => state === BREAKER_OPEN),
      { timeoutMs: 20_000, intervalMs: 0 },
    );
    expect(states).toEqual(CHAIN.map(() => BREAKER_OPEN));

    const error = await grpcError(gateway.rerank({ query, documents, model: PRIMARY }));
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.details).toMatch(/circuit breaker open/);
    expect(error.metadata.get("retry-after-ms")).toEqual([]);
  });
});

describe("request-caused failures", () => {
  // Over the primary's and SECOND's 128 tokens, within LAST's 256: a fallback to LAST would score it.
  const overLong = "word ".repeat(150);
  const cases: [string, Partial<RerankRequest>, status][] = [
    ["an over-long document without truncate is INVALID_ARGUMENT", { documents: [overLong] }, status.INVALID_ARGUMENT],
    ["an unknown model is NOT_FOUND", { model: "no-such-model" }, status.NOT_FOUND],
  ];
  it.each(cases)("%s and never falls back to a smaller model", async (_name, change, code) => {
    const gateway = await chainGateway(fast);
    const request = { query, documents, model: PRIMARY, ...change };
    // The chain's last model could score the request: a fallback would have turned the error into a response.
    expect((await gateway.rerank({ ...request, model: LAST })).model).toBe(LAST);

    const error = await grpcError(gateway.rerank(request));
    expect(error.code).toBe(code);
    expect(await gatewayMetric(gateway, "rerank_fallbacks_total")).toBeUndefined();
  });
});

describe("overload", () => {
  it("routes past full models, then answers RESOURCE_EXHAUSTED at once with a retry hint; no request hangs or stays counted", async () => {
    // Distinct budgets: the retry hint is the chain's smallest (SECOND's), neither the primary's nor the last one's.
    const budgets = { [PRIMARY]: 9_000, [SECOND]: 7_000, [LAST]: 8_000 };
    const gateway = await chainGateway(
      { capacityPairs: documents.length },
      { perModel: Object.fromEntries(CHAIN.map((model) => [model, { latencyBudgetMs: budgets[model] }])) },
    );
    const delayMs = 1_500;
    for (const model of CHAIN) setFault(model, { delay_ms: delayMs });
    const calls = Array.from({ length: 8 }, () =>
      timed(() => gateway.rerank({ query, documents, model: PRIMARY }, { deadlineMs: 15_000 })),
    );
    // While the model calls run, each model of the chain holds one request's pairs: its whole capacity.
    const inFlight = () => perChainModel(gateway, "rerank_pairs_in_flight");
    const during = await poll(inFlight, (pairs) => pairs.every((count) => count === documents.length), {
      timeoutMs: delayMs - 300,
    });
    expect(during).toEqual(CHAIN.map(() => documents.length));
    const outcomes = await Promise.all(calls);

    const served = outcomes.filter((outcome) => outcome.value !== undefined);
    const shed = outcomes.filter((outcome) => outcome.error !== undefined);
    expect(served.map((outcome) => outcome.value!.model).sort()).toEqual([...CHAIN].sort());
    expect(
      served
        .filter((o) => o.value!.degraded)
        .every((o) => o.value!.degradedReason === DegradedReason.DEGRADED_REASON_OVER_CAPACITY),
    ).toBe(true);
    expect(Math.min(...served.map((outcome) => outcome.ms))).toBeGreaterThanOrEqual(delayMs);
    expect(shed).toHaveLength(5);
    for (const { error, ms } of shed) {
      expect(error!.code).toBe(status.RESOURCE_EXHAUSTED);
      // At once: in a fraction of the time a model takes, not after waiting for capacity.
      expect(ms).toBeLessThan(delayMs / 2);
      expect(error!.metadata.get("retry-after-ms")).toEqual([String(budgets[SECOND])]);
      expect(error!.metadata.get("grpc-retry-pushback-ms")).toEqual([String(budgets[SECOND])]);
    }
    expect(Math.max(...outcomes.map((outcome) => outcome.ms))).toBeLessThan(15_000);
    expect(await inFlight()).toEqual(CHAIN.map(() => 0));
  });
});

describe("deadlines", () => {
  const delayMs = 2_000;

  it("a client deadline shorter than the model's latency gets DEADLINE_EXCEEDED on time; the Triton call ends with it", async () => {
    const gateway = await chainGateway({ latencyBudgetMs: 10_000 });
    setFault(PRIMARY, { delay_ms: delayMs });
    const cancellations = watchCancellations(PRIMARY);
    const { error, ms } = await timed(() => pinnedToPrimary(gateway, 400));
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(ms).toBeLessThan(400 + 250);
    // grpc-js ends the client's call at its deadline by itself and resets the stream, which the gateway sees as a
    // cancel: this shows the model's work stopped with the deadline, the next test that the gateway keeps one.
    expect(await cancelledInsideTriton(cancellations)).toBeLessThan(400 + 400);
  });

  it.each([
    ["no deadline", Infinity],
    ["a deadline past the model's latency", 10_000],
  ])(
    "a call with %s is ended by the gateway's own bound, RERANK_DEFAULT_TIMEOUT_MS, with DEADLINE_EXCEEDED",
    async (_name, deadlineMs) => {
      const boundMs = 500;
      const gateway = await chainGateway({ latencyBudgetMs: 10_000 }, { env: { RERANK_DEFAULT_TIMEOUT_MS: String(boundMs) } });
      setFault(PRIMARY, { delay_ms: delayMs });
      const cancellations = watchCancellations(PRIMARY);
      // Nothing on the client's side ends this call before the model's delay: only the gateway can.
      const { error, ms } = await timed(() => pinnedToPrimary(gateway, deadlineMs));
      expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
      expect(ms).toBeGreaterThanOrEqual(boundMs - 20);
      expect(ms).toBeLessThan(boundMs + 500);
      expect(await gatewayMetric(gateway, "rerank_requests_total", { model: PRIMARY, code: "DEADLINE_EXCEEDED" })).toBe(1);
      expect(await cancelledInsideTriton(cancellations)).toBeLessThan(boundMs + 500);
    },
  );
});

describe("cancellation", () => {
  it("a client that cancels cancels the gateway's in-flight Triton call", async () => {
    const gateway = await chainGateway({ latencyBudgetMs: 10_000 });
    const delayMs = 3_000;
    setFault(PRIMARY, { delay_ms: delayMs });
    const cancellations = watchCancellations(PRIMARY);
    const call = gateway.client.rerank(
      RerankRequest.fromPartial({ query, documents, model: PRIMARY, disableFallback: true }),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      () => undefined,
    );
    await sleep(500); // time to reach Triton and start its delay
    call.cancel();
    // Inside Triton, the model sees its request cancelled well before its 3 s would have ended.
    expect(await cancelledInsideTriton(cancellations)).toBeLessThan(delayMs / 2);
    expect(await gatewayMetric(gateway, "rerank_requests_total", { model: PRIMARY, code: "CANCELLED" })).toBe(1);
  });
});

describe("Triton replicas and restarts", () => {
  /** A second Triton serving LAST from the product's repository, stopped after the test. */
  async function ownTriton() {
    const triton = await tritonProcess(join(root, ".run", "test-triton-b"));
    cleanups.push(() => triton.stop());
    triton.start(LAST);
    return triton;
  }

  type Outcome = RerankResponse | { code: number };
  const failureCodes = (outcomes: Outcome[]) => outcomes.flatMap((o) => ("code" in o ? [o.code] : []));

  /** Bounded closed-loop load: `count` requests, `concurrency` at a time; returns each outcome in order. */
  async function load(
    gateway: RunningGateway,
    count: number,
    concurrency: number,
    onProgress: (sent: number) => Promise<void> | void,
  ): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
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

  /** Polls the gateway's overall health (service "" and rerank.v1.RerankService) until both say `wanted`. */
  async function overallHealthBecomes(gateway: RunningGateway, wanted: "SERVING" | "NOT_SERVING"): Promise<string[]> {
    const health = healthClient(gateway.address);
    try {
      return await poll(
        () => Promise.all(["", "rerank.v1.RerankService"].map((service) => health.check(service))),
        (statuses) => statuses.every((reported) => reported === wanted),
        { timeoutMs: 15_000, intervalMs: 100 },
      );
    } finally {
      health.close();
    }
  }
  const both = (reported: string) => [reported, reported];

  it("losing one replica mid-load loses no request; the lost endpoint is ejected, and re-admitted once it is back", async () => {
    const replica = await ownTriton();
    const gateway = await gatewayFor({ TRITON_GRPC_URL: `${replica.grpcUrl},${inject("tritonGrpcUrl")}`, RERANK_MODELS: LAST });
    const endpointUp = () => gatewayMetric(gateway, "rerank_triton_endpoint_up", { endpoint: replica.grpcUrl });
    const outcomes = await load(gateway, 60, 4, (sent) => (sent === 20 ? replica.kill() : undefined));
    expect(failureCodes(outcomes)).toEqual([]);
    expect(await endpointUp()).toBe(0);

    // A fresh process on the same port, whose request counters start at 0. No traffic is sent until it is back
    // up: only the readiness loop's probe (ServerReady) can re-admit it.
    replica.start(LAST);
    expect(await poll(endpointUp, (up) => up === 1, { timeoutMs: 10_000 })).toBe(1);
    expect(failureCodes(await load(gateway, 10, 2, () => undefined))).toEqual([]);
    expect(await metric(replica.metricsUrl, "nv_inference_request_success", { model: LAST })).toBeGreaterThan(0);
  });

  it("Triton killed and restarted: clean UNAVAILABLE and NOT_SERVING during the gap, full recovery and SERVING after", async () => {
    const triton = await ownTriton();
    const gateway = await gatewayFor({ TRITON_GRPC_URL: triton.grpcUrl, RERANK_MODELS: LAST });
    expect(await overallHealthBecomes(gateway, "SERVING")).toEqual(both("SERVING"));
    expect((await gateway.rerank({ query, documents })).model).toBe(LAST);
    triton.kill();
    const during = await load(gateway, 10, 2, () => sleep(50));
    expect(failureCodes(during)).toEqual(Array(10).fill(status.UNAVAILABLE));
    expect(await overallHealthBecomes(gateway, "NOT_SERVING")).toEqual(both("NOT_SERVING"));

    triton.start(LAST);
    // The gateway's channel reconnects with a short backoff: within a few seconds requests succeed again.
    const recovery = await load(gateway, 20, 1, () => sleep(250));
    expect(recovery.some((o) => !("code" in o))).toBe(true);
    const steady = await load(gateway, 10, 2, () => undefined);
    expect(failureCodes(steady)).toEqual([]);
    expect(await overallHealthBecomes(gateway, "SERVING")).toEqual(both("SERVING"));
  });

  it("the default model unloaded from a running Triton: NOT_SERVING and UNAVAILABLE; loaded again: SERVING and scoring", async () => {
    const triton = await ownTriton();
    const gateway = await gatewayFor({ TRITON_GRPC_URL: triton.grpcUrl, RERANK_MODELS: LAST });
    await triton.modelControl(LAST, "unload");
    expect(await overallHealthBecomes(gateway, "NOT_SERVING")).toEqual(both("NOT_SERVING"));
    expect((await grpcError(gateway.rerank({ query, documents }))).code).toBe(status.UNAVAILABLE);

    await triton.modelControl(LAST, "load");
    expect(await overallHealthBecomes(gateway, "SERVING")).toEqual(both("SERVING"));
    expect((await gateway.rerank({ query, documents })).model).toBe(LAST);
  });
});
