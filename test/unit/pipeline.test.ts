import { describe, expect, it } from "vitest";
import type { ModelSpec } from "../../src/catalog/registry.js";
import { GatewayError, type ErrorKind } from "../../src/errors.js";
import { CallOverBudget, type CallBudget, type ScoreRequest } from "../../src/pipeline/scorer.js";
import type { TritonFailure } from "../../src/triton/client.js";
import {
  answers,
  contextFor,
  failsWith,
  FakeBackend,
  hangs,
  pipelineOf,
  rawScoreOf,
  rejectionOf,
  specOf,
  type Behaviour,
} from "./fakes.js";

/** maxBatchSize 2: a request of six documents goes to Triton as three batches. */
const inBatchesOfTwo = (name: string) => specOf(name, { maxBatchSize: 2 });
const RERANKER = inBatchesOfTwo("ms-marco-minilm-l6-v2");
const DECODER = inBatchesOfTwo("mxbai-rerank-base-v2");
const EMBEDDER = inBatchesOfTwo("all-minilm-l6-v2");

// Lengths differ, so the batcher groups rows out of request order.
const DOCUMENTS = ["a longer document", "b", "a medium one", "cc", "the longest document of them all", "d"];

function setup(spec: ModelSpec, behaviour?: Behaviour) {
  const backend = new FakeBackend([spec]);
  if (behaviour) backend.set(spec.triton.model, behaviour);
  const pipeline = pipelineOf(spec, backend);
  const request = (changes: Partial<ScoreRequest> = {}): ScoreRequest => ({
    query: "q",
    documents: DOCUMENTS,
    truncate: false,
    rawScores: false,
    ...changes,
  });
  const fails = (changes: Partial<ScoreRequest> = {}, context = contextFor().context) =>
    rejectionOf<GatewayError>(pipeline.score(request(changes), context));
  return { backend, pipeline, request, fails };
}

const raw = DOCUMENTS.map((_, index) => rawScoreOf(index));
const sigmoid = (value: number) => 1 / (1 + Math.exp(-value));

describe("ModelPipeline: scores", () => {
  it("returns one score per document in request order, across batches sent out of order", async () => {
    const { backend, pipeline, request } = setup(RERANKER);
    const scored = await pipeline.score(request({ rawScores: true }), contextFor().context);
    const batches = backend.calls.map((call) => call.rows);
    expect(batches).toHaveLength(3);
    expect(batches.flat().sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(batches[0]).not.toEqual([0, 1]);
    expect([...scored.scores]).toEqual(raw);
    expect([...scored.truncated]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("normalizes a cross-encoder's logits with the sigmoid unless raw scores are asked for", async () => {
    const { pipeline, request } = setup(RERANKER);
    const scored = await pipeline.score(request(), contextFor().context);
    expect([...scored.scores]).toEqual(raw.map(sigmoid));
  });

  it("centres the sigmoid at the model's scoreCenter (mxbai v2), and keeps raw logits raw", async () => {
    const { pipeline, request } = setup(DECODER);
    expect(DECODER.scoreCenter).toBe(4.5);
    const normalized = await pipeline.score(request(), contextFor().context);
    expect([...normalized.scores]).toEqual(raw.map((logit) => sigmoid(logit - 4.5)));
    const rawScores = await pipeline.score(request({ rawScores: true }), contextFor().context);
    expect([...rawScores.scores]).toEqual(raw);
  });

  it("scores a bi-encoder's documents by their cosine with the query, the same raw or normalized", async () => {
    const { backend, pipeline, request } = setup(EMBEDDER);
    for (const rawScores of [false, true]) {
      const scored = await pipeline.score(request({ rawScores }), contextFor().context);
      expect([...scored.scores]).toEqual(raw);
      expect(scored.truncated).toHaveLength(DOCUMENTS.length);
    }
    expect(backend.calls.flatMap((call) => call.rows).filter((row) => row === 0)).toHaveLength(2);
  });
});

describe("ModelPipeline: failures", () => {
  /** The batch holding document 4 fails; the others wait until they are aborted. */
  const oneBatchFails =
    (failure: TritonFailure): Behaviour =>
    (call) =>
      call.rows.includes(4) ? failsWith(failure)(call) : hangs()(call);

  it.each([
    ["unreachable", "unavailable"],
    ["model_not_ready", "unavailable"],
    ["model_failed", "internal"],
    ["deadline", "timeout"],
    ["cancelled", "cancelled"],
  ] as [TritonFailure, ErrorKind][])(
    "a batch failing '%s' aborts its sibling batches and fails the request as '%s'",
    async (failure, kind) => {
      const { backend, fails } = setup(RERANKER, oneBatchFails(failure));
      const scope = contextFor();
      const error = await fails({}, scope.context);
      expect(error).toBeInstanceOf(GatewayError);
      expect(error.kind).toBe(kind);
      expect(error.message).toContain(`fake Triton: ${failure}`);
      expect(backend.calls).toHaveLength(3);
      expect(backend.calls.map((call) => call.context.signal.aborted)).toEqual([true, true, true]);
      expect(scope.context.signal.aborted).toBe(false);
    },
  );

  it("names the stage a Triton 'deadline' failure cut short", async () => {
    const { fails } = setup(RERANKER, oneBatchFails("deadline"));
    expect((await fails()).message).toBe(
      "the request's deadline passed while waiting for Triton (model ms-marco-minilm-l6-v2, 0 of 3 batches answered): " +
        "fake Triton: deadline",
    );
  });

  it("reports the request's deadline, and the stage it ran out in, not the Triton failure it caused", async () => {
    const { backend, fails } = setup(RERANKER, (call) => (call.rows.includes(4) ? hangs("unreachable")(call) : answers(call)));
    const error = await fails({}, contextFor(100).context);
    expect(error).toMatchObject({
      kind: "timeout",
      message: "the request's deadline passed while waiting for Triton (model ms-marco-minilm-l6-v2, 2 of 3 batches answered)",
    });
    expect(backend.calls).toHaveLength(3);
  });

  it("reports the client's cancel, not the Triton failure it caused", async () => {
    const { backend, fails } = setup(RERANKER, hangs("unreachable"));
    const scope = contextFor();
    const pending = fails({}, scope.context);
    await backend.reached(RERANKER.triton.model, 3);
    scope.cancel();
    expect(await pending).toMatchObject({ kind: "cancelled", message: "the client cancelled the call" });
  });

  it("rejects an over-long document as 'invalid', naming it, unless truncate is set", async () => {
    const { backend, pipeline, request, fails } = setup(RERANKER);
    const documents = ["short", "fine", "x".repeat(RERANKER.maxLength), "also fine"];
    const error = await fails({ documents });
    expect(error.kind).toBe("invalid");
    expect(error.message).toMatch(/^document 2: with the query it is over model ms-marco-minilm-l6-v2's maximum of 512 tokens/);
    expect(backend.calls).toHaveLength(0);

    const scored = await pipeline.score(request({ documents, truncate: true }), contextFor().context);
    expect([...scored.truncated]).toEqual([0, 0, 1, 0]);

    // In a later chunk of the request (the fake encoder chunks by 3 documents), the index is still the request's.
    const later = await fails({ documents: ["a", "b", "c", "d", "x".repeat(RERANKER.maxLength)] });
    expect(later.message).toMatch(/^document 4: /);
  });

  it("rejects an over-long query as 'invalid' for a model that caps queries", async () => {
    const spec = inBatchesOfTwo("bge-reranker-v2-m3");
    const { fails } = setup(spec);
    const error = await fails({ query: "q".repeat(spec.queryMaxLength! + 1) });
    expect(error).toMatchObject({ kind: "invalid" });
    expect(error.message).toMatch(/^query: it is over model bge-reranker-v2-m3's limit of 384 query tokens/);
  });
});

describe("ModelPipeline: call budgets", () => {
  /** A CallBudget that allows `budgetMs` per call and records each ticket's cells and how it ended. */
  function fixedBudget(budgetMs: number) {
    const tickets: { cells: number; withinBudget?: boolean }[] = [];
    const budget: CallBudget = {
      begin: (cells) => {
        const ticket: { cells: number; withinBudget?: boolean } = { cells };
        tickets.push(ticket);
        return { budgetMs, end: (_elapsedMs, withinBudget) => (ticket.withinBudget = withinBudget) };
      },
    };
    return { budget, tickets };
  }

  it("times each Triton call by its own ticket and reports calls that came back within it", async () => {
    const { backend, pipeline, request } = setup(RERANKER);
    const { budget, tickets } = fixedBudget(30_000);
    await pipeline.score(request(), contextFor().context, budget);
    expect(tickets.map((ticket) => ticket.cells).sort()).toEqual(backend.calls.map((call) => call.cells).sort());
    expect(tickets.map((ticket) => ticket.withinBudget)).toEqual([true, true, true]);
  });

  it("fails a call past its budget with CallOverBudget and cancels every batch of the request", async () => {
    const { backend, pipeline, request } = setup(RERANKER, (call) => (call.rows.includes(4) ? hangs()(call) : answers(call)));
    const { budget, tickets } = fixedBudget(50);
    const error = await rejectionOf(pipeline.score(request(), contextFor().context, budget));
    const slow = backend.calls.find((call) => call.rows.includes(4))!;
    expect(error).toBeInstanceOf(CallOverBudget);
    expect(error.message).toBe(
      `model ms-marco-minilm-l6-v2 did not answer within the 50 ms its work allows (${slow.cells} padded cells)`,
    );
    expect(slow.context.signal.aborted).toBe(true);
    expect(tickets.filter((ticket) => ticket.withinBudget === false).map((ticket) => ticket.cells)).toEqual([slow.cells]);
  });
});
