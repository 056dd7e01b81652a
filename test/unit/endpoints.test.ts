import { describe, expect, it } from "vitest";
import { GatewayMetrics } from "../../src/observability/metrics.js";
import { TritonError, type TritonFailure } from "../../src/triton/client.js";
import { TritonEndpoints } from "../../src/triton/endpoints.js";
import { contextFor, FakeTriton, metricSeries, rejectionOf, staticContext } from "./fakes.js";
import type { RequestContext } from "../../src/context.js";

function setup(count = 3) {
  const servers = Array.from({ length: count }, (_, index) => new FakeTriton(`triton-${index}:8001`));
  const metrics = new GatewayMetrics();
  const endpoints = new TritonEndpoints(servers, metrics);
  const infer = (context: RequestContext = contextFor().context) => endpoints.infer("m", [], "logits", context);
  const fails = (context?: RequestContext) => rejectionOf<TritonError>(infer(context));
  const inferCounts = () => servers.map((server) => server.counts.infer);
  const up = async () => Object.values(await metricSeries(metrics.endpointUp));
  return { servers, endpoints, infer, fails, inferCounts, up };
}

describe("TritonEndpoints", () => {
  it("sends batches round robin over the healthy endpoints", async () => {
    const { infer, inferCounts, up } = setup();
    const order: number[][] = [];
    for (let batch = 0; batch < 6; batch++) {
      await infer();
      order.push(inferCounts());
    }
    expect(order).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
      [2, 1, 1],
      [2, 2, 1],
      [2, 2, 2],
    ]);
    expect(await up()).toEqual([1, 1, 1]);
  });

  it.each(["unreachable", "model_not_ready"] as TritonFailure[])(
    "ejects an endpoint that fails '%s' and retries the batch on the next one",
    async (failure) => {
      const { servers, infer, inferCounts, up } = setup();
      servers[0]!.inferFailure = failure;
      await infer();
      expect(inferCounts()).toEqual([1, 1, 0]);
      expect(await up()).toEqual([0, 1, 1]);
      for (let batch = 0; batch < 4; batch++) await infer();
      expect(inferCounts()).toEqual([1, 3, 2]);
    },
  );

  it.each(["model_failed", "deadline", "cancelled"] as TritonFailure[])(
    "does not retry or eject on '%s': another replica would fail the same way",
    async (failure) => {
      const { servers, fails, inferCounts, up } = setup();
      servers[0]!.inferFailure = failure;
      const error = await fails();
      expect(error).toBeInstanceOf(TritonError);
      expect(error).toMatchObject({ failure, endpoint: "triton-0:8001" });
      expect(inferCounts()).toEqual([1, 0, 0]);
      expect(await up()).toEqual([1, 1, 1]);
    },
  );

  it("does not retry once the request's deadline has passed", async () => {
    const { servers, fails, inferCounts } = setup();
    servers[0]!.inferFailure = "unreachable";
    expect(await fails(staticContext(Date.now() - 1))).toMatchObject({ failure: "unreachable", endpoint: "triton-0:8001" });
    expect(inferCounts()).toEqual([1, 0, 0]);
  });

  it("does not retry once the request's signal has aborted", async () => {
    const { servers, fails, inferCounts } = setup();
    servers[0]!.inferFailure = "unreachable";
    const scope = contextFor();
    scope.cancel();
    expect(await fails(scope.context)).toMatchObject({ failure: "unreachable" });
    expect(inferCounts()).toEqual([1, 0, 0]);
  });

  it("re-admits an ejected endpoint once probe() finds it ServerReady, and not while it stays down", async () => {
    const { servers, endpoints, infer, inferCounts, up } = setup(2);
    servers[0]!.inferFailure = "unreachable";
    servers[0]!.up = false;
    await infer();
    expect(await up()).toEqual([0, 1]);

    await endpoints.probe(contextFor().context);
    expect(servers[0]!.counts.serverReady).toBe(1);
    expect(await up()).toEqual([0, 1]);
    await infer();
    await infer();
    expect(inferCounts()).toEqual([1, 3]);

    servers[0]!.up = true;
    servers[0]!.inferFailure = undefined;
    await endpoints.probe(contextFor().context);
    expect(await up()).toEqual([1, 1]);
    await infer();
    await infer();
    expect(inferCounts()).toEqual([2, 4]);
    expect(servers[1]!.counts.serverReady).toBe(0);
  });

  it("still tries every endpoint when all are ejected, and re-admits the one that answers", async () => {
    const { servers, fails, infer, inferCounts, up } = setup(2);
    for (const server of servers) server.inferFailure = "unreachable";
    expect(await fails()).toMatchObject({ failure: "unreachable" });
    expect(inferCounts()).toEqual([1, 1]);
    expect(await up()).toEqual([0, 0]);

    servers[0]!.inferFailure = undefined;
    await infer();
    expect(inferCounts()).toEqual([2, 2]);
    expect(await up()).toEqual([1, 0]);
  });

  it("never ejects a lone endpoint: there is nowhere else to go", async () => {
    const { servers, fails, up } = setup(1);
    servers[0]!.inferFailure = "unreachable";
    expect(await fails()).toMatchObject({ failure: "unreachable" });
    expect(await up()).toEqual([1]);
  });

  it("is ready for a model when any endpoint has it ready, and fails when none answers", async () => {
    const { servers, endpoints } = setup(2);
    const context = contextFor().context;
    servers[1]!.models.set("m", { ready: true } as never);
    servers[0]!.up = false;
    expect(await endpoints.modelReady("m", context)).toBe(true);
    expect(await endpoints.modelReady("other", context)).toBe(false);
    servers[1]!.up = false;
    await expect(endpoints.modelReady("m", context)).rejects.toMatchObject({ failure: "unreachable" });
  });
});
