import { describe, expect, it } from "vitest";
import type { ModelSpec } from "../../src/catalog/registry.js";
import { GatewayError, type ErrorKind } from "../../src/errors.js";
import { CallOverBudget, type CallBudget, type RowAdmission, type ScoreRequest } from "../../src/pipeline/scorer.js";
import type { SplitOptions } from "../../src/tokenization/windows.js";
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

describe("ModelPipeline: long_documents=split_max", () => {
  // FakeEncoder windows are 4 characters: documents of 3, 1, 2, 1 and 4 windows, rows 0-2, 3, 4-5, 6 and 7-10.
  const SPLIT_DOCUMENTS = ["aaaaaaaaaa", "b", "cccccccc", "dddd", "eeeeeeeeeeeee"];
  const WINDOWS = [3, 1, 2, 1, 4];
  const ROW_SCORES = [0.1, 0.9, 0.3, 0.5, 0.2, 0.2, -1, 0.4, 0.1, 0.8, 0.7];
  const byRow: Behaviour = async (call) => Float32Array.from(call.rows, (row) => ROW_SCORES[row]!);
  const documentOfRow = WINDOWS.flatMap((count, document) => Array<number>(count).fill(document));
  const split = (changes: Partial<SplitOptions> = {}): SplitOptions => ({ maxTokensPerDocument: 0, maxWindows: 100, ...changes });

  it("scores each document by its best window (the first of equal ones), all rows in shared batches, across chunks", async () => {
    const { backend, pipeline, request } = setup(RERANKER, byRow);
    const scored = await pipeline.score(
      request({ documents: SPLIT_DOCUMENTS, rawScores: true, split: split() }),
      contextFor().context,
    );
    expect([...scored.scores]).toEqual([0.9, 0.5, 0.2, -1, 0.8].map(Math.fround));
    expect([...scored.windows]).toEqual(WINDOWS);
    expect([...scored.bestWindow]).toEqual([1, 0, 0, 0, 2]);
    expect([...scored.truncated]).toEqual([0, 0, 0, 0, 0]);
    expect(scored.pairs).toBe(11);
    // Every row once, in batches of 2 that mix documents' windows.
    expect(backend.calls.flatMap((call) => call.rows).sort((a, b) => a - b)).toEqual(ROW_SCORES.map((_, row) => row));
    const documentsPerBatch = backend.calls.map((call) => new Set(call.rows.map((row) => documentOfRow[row])).size);
    expect(Math.max(...documentsPerBatch)).toBe(2);
    const normalized = await pipeline.score(request({ documents: SPLIT_DOCUMENTS, split: split() }), contextFor().context);
    expect([...normalized.scores]).toEqual([...scored.scores].map(sigmoid));
  });

  it("keeps maxTokensPerDocument of each document, fewer windows, marked truncated", async () => {
    const { pipeline, request } = setup(RERANKER);
    const scored = await pipeline.score(
      request({ documents: SPLIT_DOCUMENTS, split: split({ maxTokensPerDocument: 5 }) }),
      contextFor().context,
    );
    expect([...scored.windows]).toEqual([2, 1, 2, 1, 2]);
    expect([...scored.truncated]).toEqual([1, 0, 1, 0, 1]);
    expect(scored.pairs).toBe(8);
  });

  it("counts the windows before any Triton call: over the bound is 'invalid', else admitted, then sent", async () => {
    const { backend, pipeline, request, fails } = setup(RERANKER);
    const error = await fails({ documents: SPLIT_DOCUMENTS, split: split({ maxWindows: 10 }) });
    expect(error).toMatchObject({ kind: "invalid" });
    expect(error.message).toMatch(/^long_documents=split_max: the documents make at least 11 windows, over the limit of 10 /);
    expect(backend.calls).toHaveLength(0);

    const admitted: { rows: number; callsBefore: number }[] = [];
    const admit: RowAdmission = (rows) => void admitted.push({ rows, callsBefore: backend.calls.length });
    await pipeline.score(request({ documents: SPLIT_DOCUMENTS, split: split() }), contextFor().context, undefined, admit);
    expect(admitted).toEqual([{ rows: 11, callsBefore: 0 }]);

    const callsBefore = backend.calls.length;
    const full = new GatewayError("overloaded", "full");
    const refused = pipeline.score(
      request({ documents: SPLIT_DOCUMENTS, split: split() }),
      contextFor().context,
      undefined,
      () => {
        throw full;
      },
    );
    expect(await rejectionOf(refused)).toBe(full);
    expect(backend.calls).toHaveLength(callsBefore);
  });

  it("budgets every batch sent together with all their cells: Triton may run them as one execution", async () => {
    const { backend, pipeline, request } = setup(RERANKER);
    const begun: { cells: number; alongside: number }[] = [];
    const budget: CallBudget = {
      begin: (cells, alongside = 0) => (begun.push({ cells, alongside }), { budgetMs: 30_000, end: () => {} }),
    };
    await pipeline.score(request({ documents: SPLIT_DOCUMENTS, split: split() }), contextFor().context, budget);
    // One send: each call's budget counts the calls begun before it, its own cells and those sent after it.
    const total = backend.calls.reduce((sum, call) => sum + call.cells, 0);
    let earlier = 0;
    for (const { cells, alongside } of begun) {
      expect(earlier + cells + alongside).toBe(total);
      earlier += cells;
    }
    expect(begun.length).toBeGreaterThan(1);
  });

  it("a bi-encoder's windows: the query's row once, each document its best window's cosine", async () => {
    const { backend, pipeline, request } = setup(EMBEDDER);
    const scored = await pipeline.score(request({ documents: SPLIT_DOCUMENTS, split: split() }), contextFor().context);
    // The fake cosine rises with the row: a document's last window is its best.
    const lastWindows = WINDOWS.map((_, document) => documentOfRow.lastIndexOf(document));
    expect([...scored.scores]).toEqual(lastWindows.map(rawScoreOf));
    expect([...scored.bestWindow]).toEqual(WINDOWS.map((count) => count - 1));
    expect(scored.pairs).toBe(11);
    expect(backend.calls.flatMap((call) => call.rows).filter((row) => row === 0)).toHaveLength(1);
  });

  it("without truncate, windows documents that would not fit but refuses a query the windows would cut", async () => {
    const { pipeline, request, fails } = setup(RERANKER);
    const documents = ["x".repeat(RERANKER.maxLength), "fine"];
    const scored = await pipeline.score(request({ documents, split: split({ maxWindows: 1_000 }) }), contextFor().context);
    expect([...scored.windows]).toEqual([RERANKER.maxLength / 4, 1]);
    expect([...scored.truncated]).toEqual([0, 0]);
    const error = await fails({ query: "q".repeat(RERANKER.maxLength + 1), documents, split: split({ maxWindows: 1_000 }) });
    expect(error).toMatchObject({ kind: "invalid" });
    expect(error.message).toBe(
      "query: model ms-marco-minilm-l6-v2 keeps at most half of its 512 tokens for the query beside a long document's " +
        "windows; shorten it or set truncate=true",
    );
  });
});
