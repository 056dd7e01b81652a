import { describe, expect, it } from "vitest";
import { GatewayHealth } from "../../src/api/health.js";
import { GatewayMetrics } from "../../src/observability/metrics.js";
import { TritonEndpoints } from "../../src/triton/endpoints.js";
import { ModelReadiness } from "../../src/triton/readiness.js";
import { FakeTriton, servedAsDeclared, specOf } from "./fakes.js";

const RERANKER = specOf("ms-marco-minilm-l6-v2");
const EMBEDDER = specOf("all-minilm-l6-v2");

/** Two models over one fake Triton, with every readiness event recorded. */
function setup() {
  const triton = new FakeTriton("triton-0:8001");
  const readiness = new ModelReadiness(new TritonEndpoints([triton], new GatewayMetrics()), [RERANKER, EMBEDDER]);
  const events = { change: [] as [string, boolean][], refreshed: 0, mismatch: [] as string[][] };
  readiness.on("change", (model, ready) => events.change.push([model, ready]));
  readiness.on("refreshed", () => events.refreshed++);
  readiness.on("mismatch", (problems) => events.mismatch.push(problems));
  /** Runs one round; returns its changes, by model name (models are checked concurrently). */
  const round = async () => {
    events.change.length = 0;
    await readiness.refresh();
    return [...events.change].sort(([a], [b]) => a.localeCompare(b));
  };
  return { triton, readiness, events, round };
}

describe("ModelReadiness", () => {
  it("emits a change on each model's first answer and on each change after, and 'refreshed' after every round", async () => {
    const { triton, readiness, events, round } = setup();
    triton.models.set(RERANKER.triton.model, servedAsDeclared(RERANKER));
    expect(await round()).toEqual([
      [EMBEDDER.name, false],
      [RERANKER.name, true],
    ]);
    expect(events.refreshed).toBe(1);
    expect(await round()).toEqual([]);
    expect(events.refreshed).toBe(2);

    triton.models.set(EMBEDDER.triton.model, servedAsDeclared(EMBEDDER));
    expect(await round()).toEqual([[EMBEDDER.name, true]]);
    triton.models.get(RERANKER.triton.model)!.ready = false;
    expect(await round()).toEqual([[RERANKER.name, false]]);
    expect([readiness.isReady(RERANKER.name), readiness.isReady(EMBEDDER.name)]).toEqual([false, true]);
    expect(events.refreshed).toBe(4);
    expect(events.mismatch).toEqual([]);
  });

  it("checks a model's served tensors once, on its first ready answer", async () => {
    const { triton, round } = setup();
    triton.models.set(RERANKER.triton.model, servedAsDeclared(RERANKER));
    for (let rounds = 0; rounds < 3; rounds++) await round();
    expect([triton.counts.modelMetadata, triton.counts.modelConfig]).toEqual([1, 1]);
  });

  it("emits 'mismatch' and keeps the model not ready when Triton's max_batch_size disagrees with the registry", async () => {
    const { triton, readiness, events, round } = setup();
    const served = servedAsDeclared(RERANKER);
    served.config.maxBatchSize = 8;
    triton.models.set(RERANKER.triton.model, served);
    expect(await round()).toEqual([
      [EMBEDDER.name, false],
      [RERANKER.name, false],
    ]);
    expect(events.mismatch).toEqual([
      [
        `model ${RERANKER.name} (Triton model ${RERANKER.triton.model}): max_batch_size: registry declares ` +
          `${RERANKER.triton.maxBatchSize}, Triton serves 8`,
      ],
    ]);
    expect(readiness.isReady(RERANKER.name)).toBe(false);
  });

  it("emits 'mismatch' when the served tensors differ: a missing input and an output of another width", async () => {
    const { triton, readiness, events, round } = setup();
    const served = servedAsDeclared(EMBEDDER);
    served.metadata.inputs = served.metadata.inputs.filter((input) => input.name !== "token_type_ids");
    served.metadata.outputs[0]!.shape = [-1, 768];
    triton.models.set(EMBEDDER.triton.model, served);
    await round();
    const problems = events.mismatch.flat();
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/input token_type_ids: registry declares token_type_ids INT64 \[-1, -1\], Triton serves/);
    expect(problems[1]).toMatch(
      /output embedding: registry declares embedding FP32 \[-1, 384\], Triton serves embedding FP32 \[-1, 768\]/,
    );
    expect(readiness.isReady(EMBEDDER.name)).toBe(false);
  });

  it("makes every model not ready while Triton is unreachable", async () => {
    const { triton, readiness, round } = setup();
    triton.models.set(RERANKER.triton.model, servedAsDeclared(RERANKER));
    triton.models.set(EMBEDDER.triton.model, servedAsDeclared(EMBEDDER));
    await round();
    triton.up = false;
    expect(await round()).toEqual([
      [EMBEDDER.name, false],
      [RERANKER.name, false],
    ]);
    expect([readiness.isReady(RERANKER.name), readiness.isReady(EMBEDDER.name)]).toEqual([false, false]);
    triton.up = true;
    expect((await round()).map(([, ready]) => ready)).toEqual([true, true]);
  });
});

/** Reads a grpc.health.v1 status the way Check answers it, through the service's own handler (no network). */
function healthChecker(health: GatewayHealth): (service: string) => Promise<string> {
  let check: ((call: unknown, callback: (error: unknown, response?: { status: string }) => void) => void) | undefined;
  health.service.addToServer({ addService: (_definition, implementation) => (check = implementation.check as never) });
  return (service) =>
    new Promise((resolve) =>
      check!({ request: { service } }, (error, response) => resolve(error ? "UNKNOWN" : response!.status)),
    );
}

describe("GatewayHealth", () => {
  const GATEWAY = ["", "rerank.v1.RerankService"];

  function setupHealth() {
    const { triton, readiness, round } = setup();
    const health = new GatewayHealth(readiness, EMBEDDER.name);
    const check = healthChecker(health);
    const statuses = (services: string[]) => Promise.all(services.map(check));
    return { triton, health, round, statuses };
  }

  it("is NOT_SERVING until the default model is ready, SERVING while it is, NOT_SERVING when it goes away", async () => {
    const { triton, round, statuses } = setupHealth();
    expect(await statuses(GATEWAY)).toEqual(["NOT_SERVING", "NOT_SERVING"]);
    triton.models.set(RERANKER.triton.model, servedAsDeclared(RERANKER));
    await round();
    expect(await statuses(GATEWAY)).toEqual(["NOT_SERVING", "NOT_SERVING"]);

    triton.models.set(EMBEDDER.triton.model, servedAsDeclared(EMBEDDER));
    await round();
    expect(await statuses(GATEWAY)).toEqual(["SERVING", "SERVING"]);

    triton.models.get(EMBEDDER.triton.model)!.ready = false;
    await round();
    expect(await statuses(GATEWAY)).toEqual(["NOT_SERVING", "NOT_SERVING"]);
  });

  it("reports each model's readiness under its own name", async () => {
    const { triton, round, statuses } = setupHealth();
    const models = [RERANKER.name, EMBEDDER.name];
    expect(await statuses(models)).toEqual(["UNKNOWN", "UNKNOWN"]);
    triton.models.set(RERANKER.triton.model, servedAsDeclared(RERANKER));
    await round();
    expect(await statuses(models)).toEqual(["SERVING", "NOT_SERVING"]);
    triton.up = false;
    await round();
    expect(await statuses(models)).toEqual(["NOT_SERVING", "NOT_SERVING"]);
  });

  it("is NOT_SERVING after drain() even while the default model is ready", async () => {
    const { triton, health, round, statuses } = setupHealth();
    triton.models.set(EMBEDDER.triton.model, servedAsDeclared(EMBEDDER));
    await round();
    expect(await statuses(GATEWAY)).toEqual(["SERVING", "SERVING"]);
    health.drain();
    expect(await statuses(GATEWAY)).toEqual(["NOT_SERVING", "NOT_SERVING"]);
    await round();
    expect(await statuses([...GATEWAY, EMBEDDER.name])).toEqual(["NOT_SERVING", "NOT_SERVING", "SERVING"]);
  });
});
