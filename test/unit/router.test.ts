import { afterEach, describe, expect, it } from "vitest";
import type { RoutingSettings } from "../../src/catalog/registry.js";
import { GatewayError, type ErrorKind } from "../../src/errors.js";
import { GatewayMetrics } from "../../src/observability/metrics.js";
import { Router, type RouteRequest } from "../../src/routing/router.js";
import {
  contextFor,
  failsWith,
  FakeBackend,
  Gate,
  hangs,
  heldBy,
  metricSeries,
  metricValue,
  pipelineOf,
  rejectionOf,
  specOf,
  staticContext,
  throws,
  type Behaviour,
} from "./fakes.js";

const [LARGE, XSMALL, MINILM] = ["mxbai-rerank-large-v1", "mxbai-rerank-xsmall-v1", "all-minilm-l6-v2"] as const;
const CHAIN = [LARGE, XSMALL, MINILM];

const routers: Router[] = [];
afterEach(() => routers.splice(0).forEach((router) => router.shutdown()));

/** A router over the registry chain large-v1 -> xsmall-v1 -> all-minilm (bi-encoder), with test routing settings. */
function setup(routing: Partial<RoutingSettings> = {}, perModel: Record<string, Partial<RoutingSettings>> = {}) {
  const specs = CHAIN.map((name) => specOf(name, { routing: { ...routing, ...perModel[name] } }));
  const backend = new FakeBackend(specs);
  const metrics = new GatewayMetrics();
  const router = new Router(new Map(specs.map((spec) => [spec.name, pipelineOf(spec, backend)])), metrics);
  routers.push(router);
  const score = (changes: Partial<RouteRequest> = {}, context = contextFor().context) =>
    router.score(
      { model: LARGE, query: "q", documents: ["a", "b"], truncate: false, rawScores: false, disableFallback: false, ...changes },
      context,
    );
  const fails = (changes: Partial<RouteRequest> = {}, context = contextFor().context) =>
    rejectionOf<GatewayError>(score(changes, context));
  const set = (behaviours: Record<string, Behaviour>) =>
    Object.entries(behaviours).forEach(([model, behaviour]) => backend.set(model, behaviour));
  return { router, backend, metrics, score, fails, set };
}

const callCounts = (backend: FakeBackend) => CHAIN.map((model) => backend.callsTo(model).length);
const fallbacks = (metrics: GatewayMetrics) => metricSeries(metrics.fallbacks);
const pairsInFlight = (metrics: GatewayMetrics) =>
  Promise.all(CHAIN.map((model) => metricValue(metrics.pairsInFlight, { model })));

describe("Router: the fallback chain", () => {
  it("scores with the requested model when it answers, not degraded", async () => {
    const { score, backend, metrics } = setup();
    const routed = await score();
    expect(routed.model).toBe(LARGE);
    expect(routed.degradedReason).toBeUndefined();
    expect(routed.scored.scores).toHaveLength(2);
    expect(callCounts(backend)).toEqual([1, 0, 0]);
    expect(await fallbacks(metrics)).toEqual({});
  });

  it("walks primary -> fallback -> last while models fail, reporting why the primary did not score", async () => {
    const { score, set, backend, metrics } = setup();
    set({ [LARGE]: failsWith("unreachable"), [XSMALL]: failsWith("model_failed") });
    const routed = await score();
    expect(routed).toMatchObject({ model: MINILM, degradedReason: "primary_unavailable" });
    expect(callCounts(backend)).toEqual([1, 1, 1]);
    expect(await fallbacks(metrics)).toEqual({ [`from=${LARGE},to=${MINILM},reason=primary_unavailable`]: 1 });
    expect(await pairsInFlight(metrics)).toEqual([0, 0, 0]);
  });

  it("passes over a model whose breaker is open (breaker_open), without calling it", async () => {
    const { score, set, backend, metrics } = setup({ volumeThreshold: 2, errorThresholdPercentage: 50 });
    set({ [LARGE]: failsWith("unreachable") });
    for (let request = 0; request < 2; request++) expect((await score()).degradedReason).toBe("primary_unavailable");
    expect(await metricValue(metrics.breakerState, { model: LARGE })).toBe(2);

    const routed = await score();
    expect(routed).toMatchObject({ model: XSMALL, degradedReason: "breaker_open" });
    expect(callCounts(backend)).toEqual([2, 3, 0]);
    expect(await fallbacks(metrics)).toEqual({
      [`from=${LARGE},to=${XSMALL},reason=primary_unavailable`]: 2,
      [`from=${LARGE},to=${XSMALL},reason=breaker_open`]: 1,
    });
  });

  it("moves on when a Triton call runs past its budget (timeout), cancelling that call", async () => {
    const { score, set, backend, metrics } = setup({}, { [LARGE]: { latencyBudgetMs: 50 } });
    set({ [LARGE]: hangs() });
    const routed = await score();
    expect(routed).toMatchObject({ model: XSMALL, degradedReason: "timeout" });
    expect(backend.callsTo(LARGE)[0]!.context.signal.aborted).toBe(true);
    expect(await metricValue(metrics.fallbacks, { from: LARGE, to: XSMALL, reason: "timeout" })).toBe(1);
  });

  it("keeps the first reason along the chain: over capacity at the primary, then a failure further down", async () => {
    const { score, set, backend, metrics } = setup({ capacityPairs: 2 });
    const gate = new Gate();
    set({ [LARGE]: heldBy(gate), [XSMALL]: failsWith("unreachable") });
    const holding = score();
    await backend.reached(LARGE, 1);
    expect(await score()).toMatchObject({ model: MINILM, degradedReason: "over_capacity" });
    gate.open();
    expect((await holding).model).toBe(LARGE);
    expect(await fallbacks(metrics)).toEqual({ [`from=${LARGE},to=${MINILM},reason=over_capacity`]: 1 });
  });

  it("pins a request with disableFallback to its model: its failure, then its open breaker", async () => {
    const { fails, set, backend, metrics } = setup({ volumeThreshold: 1 });
    set({ [LARGE]: failsWith("unreachable") });
    expect((await fails({ disableFallback: true })).kind).toBe("unavailable");
    expect((await fails({ disableFallback: true })).message).toBe(`model ${LARGE}: circuit breaker open`);
    expect(callCounts(backend)).toEqual([1, 0, 0]);
    expect(await fallbacks(metrics)).toEqual({});
  });

  it("sheds a pinned request when its model is at capacity, with that model's latency budget as retry hint", async () => {
    const { score, fails, set, backend } = setup({ capacityPairs: 2, latencyBudgetMs: 20_000 });
    const gate = new Gate();
    set({ [LARGE]: heldBy(gate) });
    const holding = score({ disableFallback: true });
    await backend.reached(LARGE, 1);
    expect(await fails({ disableFallback: true })).toMatchObject({ kind: "overloaded", retryAfterMs: 20_000 });
    gate.open();
    expect((await holding).model).toBe(LARGE);
    expect(callCounts(backend)).toEqual([1, 0, 0]);
  });
});

describe("Router: shedding and errors", () => {
  it("sheds with 'overloaded' and the chain's smallest latency budget when every model is at capacity", async () => {
    const { score, fails, set, backend, metrics } = setup(
      { capacityPairs: 2 },
      { [LARGE]: { latencyBudgetMs: 30_000 }, [XSMALL]: { latencyBudgetMs: 17_345 }, [MINILM]: { latencyBudgetMs: 25_000 } },
    );
    const gate = new Gate();
    CHAIN.forEach((model) => set({ [model]: heldBy(gate) }));
    const held = [];
    for (const model of CHAIN) {
      held.push(score());
      await backend.reached(model, 1);
    }
    expect(await pairsInFlight(metrics)).toEqual([2, 2, 2]);

    const shed = await fails();
    expect(shed).toBeInstanceOf(GatewayError);
    expect(shed.kind).toBe("overloaded");
    expect(shed.retryAfterMs).toBe(17_345);
    expect(shed.message).toContain(`${LARGE} -> ${XSMALL} -> ${MINILM}`);
    expect(callCounts(backend)).toEqual([1, 1, 1]);

    gate.open();
    const routed = await Promise.all(held);
    expect(routed.map((r) => [r.model, r.degradedReason])).toEqual([
      [LARGE, undefined],
      [XSMALL, "over_capacity"],
      [MINILM, "over_capacity"],
    ]);
    expect(await pairsInFlight(metrics)).toEqual([0, 0, 0]);
    expect(await fallbacks(metrics)).toEqual({
      [`from=${LARGE},to=${XSMALL},reason=over_capacity`]: 1,
      [`from=${LARGE},to=${MINILM},reason=over_capacity`]: 1,
    });
  });

  it("answers 'unavailable', never 'overloaded', when every breaker of the chain is open", async () => {
    const { fails, set, backend, metrics } = setup({ volumeThreshold: 1 });
    CHAIN.forEach((model) => set({ [model]: failsWith("unreachable") }));
    expect((await fails()).kind).toBe("unavailable");
    for (const model of CHAIN) expect(await metricValue(metrics.breakerState, { model })).toBe(2);

    const refused = await fails();
    expect(refused.kind).toBe("unavailable");
    expect(refused.retryAfterMs).toBeUndefined();
    expect(refused.message).toContain("circuit breaker open");
    expect(callCounts(backend)).toEqual([1, 1, 1]);
    expect(await pairsInFlight(metrics)).toEqual([0, 0, 0]);
  });

  it.each(["invalid", "not_found", "timeout", "cancelled"] as ErrorKind[])(
    "ends the request on a request-caused '%s' error: no fallback, no breaker trip",
    async (kind) => {
      const { fails, set, backend, metrics } = setup({ volumeThreshold: 1 });
      set({ [LARGE]: throws(new GatewayError(kind, `the request is ${kind}`)) });
      for (let request = 0; request < 3; request++)
        expect(await fails()).toMatchObject({ kind, message: `the request is ${kind}` });
      expect(callCounts(backend)).toEqual([3, 0, 0]);
      expect(await metricValue(metrics.breakerState, { model: LARGE })).toBe(0);
      expect(await fallbacks(metrics)).toEqual({});
      expect(await pairsInFlight(metrics)).toEqual([0, 0, 0]);
    },
  );

  it("rejects an over-long document as invalid at the primary instead of falling back", async () => {
    const { fails, backend } = setup();
    const error = await fails({ documents: ["short", "x".repeat(600)] });
    expect(error).toMatchObject({ kind: "invalid" });
    expect(error.message).toMatch(/^document 1:/);
    expect(callCounts(backend)).toEqual([0, 0, 0]);
  });

  it("stops walking once the request's deadline has passed: no further model is called", async () => {
    const { fails, set, backend } = setup();
    const deadline = Date.now() + 30;
    set({
      [LARGE]: async (call) => {
        while (Date.now() <= deadline) await new Promise((resolve) => setTimeout(resolve, 10));
        return failsWith("unreachable")(call);
      },
    });
    const error = await fails({}, staticContext(deadline));
    expect(error.kind).toBe("timeout");
    expect(error.message).toMatch(/^the request's deadline passed after model \S+ failed: /);
    expect(callCounts(backend)).toEqual([1, 0, 0]);
  });
});

describe("Router: split requests on capacity", () => {
  // FakeEncoder windows are 4 characters: 3 + 2 windows for these 2 documents.
  const split = { documents: ["aaaaaaaaaaaa", "bbbbbbbb"], split: { maxTokensPerDocument: 0, maxWindows: 100 } };

  it("takes the windows on once counted: past the room left they fall back as over capacity, nothing sent or counted", async () => {
    // One counted failure would open the breaker: the refusal must not count.
    const { score, set, backend, metrics } = setup({ capacityPairs: 6, volumeThreshold: 1 });
    const gate = new Gate();
    set({ [LARGE]: heldBy(gate) });
    const holding = score();
    await backend.reached(LARGE, 1);
    // 2 pairs held + 2 documents fit the 6; 2 + 5 windows do not.
    expect(await score(split)).toMatchObject({ model: XSMALL, degradedReason: "over_capacity" });
    expect(callCounts(backend)).toEqual([1, 1, 0]);
    expect(await pairsInFlight(metrics)).toEqual([2, 0, 0]);
    expect(await metricValue(metrics.breakerState, { model: LARGE })).toBe(0);
    gate.open();
    expect((await holding).model).toBe(LARGE);
  });

  it("lets windows past the whole capacity through when the request is alone on the model, and releases them all", async () => {
    const { score, metrics } = setup({ capacityPairs: 3 });
    const routed = await score(split);
    expect(routed.model).toBe(LARGE);
    expect(routed.degradedReason).toBeUndefined();
    expect(routed.scored.pairs).toBe(5);
    expect(await pairsInFlight(metrics)).toEqual([0, 0, 0]);
  });
});
