/**
 * Fakes at the Triton seam, shared by the unit tests: registry specs with test settings, a row encoder whose token
 * ids name their row, an inference backend whose behaviour per model a test sets, fake Triton servers for the
 * endpoint set, and readers for the gateway's metrics.
 */
import { join } from "node:path";
import { FAMILIES } from "../../src/catalog/families.js";
import { loadCatalog, type ModelSpec, type RoutingSettings } from "../../src/catalog/registry.js";
import { openContext, type RequestContext } from "../../src/context.js";
import { ModelMetadataResponse } from "../../src/gen/triton/grpc_service.js";
import { ModelConfig } from "../../src/gen/triton/model_config.js";
import { ModelPipeline } from "../../src/pipeline/scorer.js";
import { planChunks } from "../../src/tokenization/chunks.js";
import type { ChunkOptions, RowEncoder, TokenizationSpec } from "../../src/tokenization/encoder.js";
import type { EncodedRows } from "../../src/tokenization/encoded-rows.js";
import type { SplitOptions } from "../../src/tokenization/windows.js";
import { TritonError, type InputTensor, type TritonFailure } from "../../src/triton/client.js";
import type { InferenceBackend, TritonConnection } from "../../src/triton/endpoints.js";
import { expectedTensors } from "../../src/triton/model-check.js";

export const REGISTRY_FILE = join(import.meta.dirname, "../../src/catalog/registry.json");
export const catalog = loadCatalog(REGISTRY_FILE);

/** A registry model with some routing settings or its Triton batch size changed for a test. */
export function specOf(name: string, changes: { routing?: Partial<RoutingSettings>; maxBatchSize?: number } = {}): ModelSpec {
  const spec = catalog.models.get(name);
  if (!spec) throw new Error(`no model ${name} in the registry`);
  return {
    ...spec,
    routing: { ...spec.routing, ...changes.routing },
    triton: { ...spec.triton, maxBatchSize: changes.maxBatchSize ?? spec.triton.maxBatchSize },
  };
}

/** A context that times out after `ms` (generous by default: tests that need a deadline set their own). */
export function contextFor(ms = 30_000) {
  return openContext({ deadline: Date.now() + ms, requestId: "test-request" });
}

/** A context whose signal never fires: the deadline is only a number the code under test must look at. */
export function staticContext(deadline: number, signal = new AbortController().signal): RequestContext {
  return { ...contextFor().context, deadline, signal };
}

/**
 * Encodes without a tokenizer: a row is one token per character of its text(s) plus 2 (a pair's row also one for
 * the separator), cut to maxLength (then marked truncated). Every token of row r has id r + 1, so a fake backend
 * can tell from a batch's input_ids which request rows it holds, whatever order and padding the batcher chose.
 * With split_max a document's rows are its windows (fakeWindows).
 */
export class FakeEncoder implements RowEncoder {
  calls = 0;

  async encodeRows(
    spec: TokenizationSpec,
    query: string,
    documents: readonly string[],
    split?: SplitOptions,
  ): Promise<EncodedRows> {
    this.calls++;
    const family = FAMILIES[spec.family];
    const windows = documents.map((document) => fakeWindows(document, split));
    const documentTexts = windows.flatMap(({ texts }) =>
      texts.map((text) => (family.rows === "texts" ? text : query + text + " ")),
    );
    const texts = family.rows === "texts" ? [query, ...documentTexts] : documentTexts;
    const cut = [...(family.rows === "texts" ? [false] : []), ...windows.flatMap((window) => window.texts.map(() => window.cut))];
    const wanted = texts.map((text) => text.length + 2);
    const lengths = wanted.map((length) => Math.min(length, spec.maxLength));
    const offsets = new Int32Array(texts.length + 1);
    lengths.forEach((length, row) => (offsets[row + 1] = offsets[row]! + length));
    const ids = new Int32Array(offsets[texts.length]!);
    lengths.forEach((length, row) => ids.fill(row + 1, offsets[row]!, offsets[row]! + length));
    const truncated = Uint8Array.from(wanted, (length, row) => (length > lengths[row]! || cut[row] ? 1 : 0));
    const queryLimit = family.rows === "texts" ? spec.maxLength - 2 : (spec.queryMaxLength ?? spec.maxLength);
    return {
      ids,
      typeIds: family.usesTokenTypeIds ? new Int32Array(ids.length) : null,
      offsets,
      truncated,
      queryTruncated: query.length > queryLimit,
      tokenCount: ids.length,
      ...(split && { windows: Int32Array.from(windows, (window) => window.texts.length) }),
    };
  }

  /**
   * The same rows in chunks of CHUNK_DOCUMENTS documents, so that pipelines are tested across chunks: each row's
   * ids still name its row of the whole request (a bi-encoder chunk starts with the query's row, id 1).
   */
  encodeChunks(spec: TokenizationSpec, query: string, documents: readonly string[], options: ChunkOptions = {}) {
    const texts = FAMILIES[spec.family].rows === "texts";
    const rowsBefore = (end: number) =>
      documents.slice(0, end).reduce((sum, document) => sum + fakeWindows(document, options.split).texts.length, 0);
    return planChunks(query, documents, { documents: CHUNK_DOCUMENTS, bytes: Number.MAX_SAFE_INTEGER }).map(
      async ({ start, end }) => {
        const rows = await this.encodeRows(spec, query, documents.slice(start, end), options.split);
        const firstRow = rowsBefore(start);
        for (let index = texts ? 1 : 0; index < rows.truncated.length; index++) {
          rows.ids.fill(index + firstRow + 1, rows.offsets[index]!, rows.offsets[index + 1]!);
        }
        return rows;
      },
    );
  }
}

/** Characters of a FakeEncoder window (split_max): a document's windows are its characters in runs of this many. */
export const FAKE_WINDOW = 4;

/** A document's texts as FakeEncoder rows them: itself, or with split its windows, after maxTokensPerDocument. */
function fakeWindows(document: string, split: SplitOptions | undefined): { texts: string[]; cut: boolean } {
  if (!split) return { texts: [document], cut: false };
  const cut = split.maxTokensPerDocument > 0 && document.length > split.maxTokensPerDocument;
  const kept = cut ? document.slice(0, split.maxTokensPerDocument) : document;
  const count = Math.max(1, Math.ceil(kept.length / FAKE_WINDOW));
  return {
    texts: Array.from({ length: count }, (_, window) => kept.slice(window * FAKE_WINDOW, (window + 1) * FAKE_WINDOW)),
    cut,
  };
}

/** Documents per chunk of FakeEncoder: small, so a few documents already span several chunks. */
export const CHUNK_DOCUMENTS = 3;

/** The request rows a batch holds, in batch order: the id of each row's first unpadded token, minus 1. */
export function rowsOfBatch(inputs: readonly InputTensor[]): number[] {
  const [ids, mask] = inputs as [InputTensor, InputTensor];
  const [batch, length] = ids.shape as [number, number];
  return Array.from({ length: batch }, (_, row) => {
    for (let column = 0; column < length; column++) {
      const cell = (row * length + column) * 8;
      if (mask.data.readBigInt64LE(cell) === 1n) return Number(ids.data.readBigInt64LE(cell)) - 1;
    }
    throw new Error(`batch row ${row} has no token`);
  });
}

/** The raw score the fake models give document `index`: a logit for rerankers, the cosine for bi-encoders. */
export const rawScoreOf = (index: number) => (index + 1) / 16;

/**
 * What the model would answer for these request rows: for rerankers the logit rawScoreOf(row); for bi-encoders
 * unit embeddings whose cosine with the query's (row 0, the first axis) is rawScoreOf(document).
 */
export function modelOutput(spec: ModelSpec, rows: readonly number[]): Float32Array {
  const width = spec.triton.outputWidth ?? 1;
  const values = new Float32Array(rows.length * width);
  rows.forEach((row, index) => {
    if (width === 1) {
      values[index] = rawScoreOf(row);
      return;
    }
    const cosine = row === 0 ? 1 : rawScoreOf(row - 1);
    values[index * width] = cosine;
    values[index * width + 1] = Math.sqrt(1 - cosine * cosine);
  });
  return values;
}

/** One infer call as the fake backend saw it. */
export interface InferCall {
  model: string;
  rows: number[];
  /** Padded cells of the batch: rows x sequence length. */
  cells: number;
  context: RequestContext;
  /** The model's proper answer for these rows. */
  answer(): Float32Array;
}

export type Behaviour = (call: InferCall) => Promise<Float32Array>;

export const answers: Behaviour = async (call) => call.answer();

export const failsWith =
  (failure: TritonFailure): Behaviour =>
  async () => {
    throw new TritonError(failure, "fake-triton:8001", `fake Triton: ${failure}`);
  };

export const throws =
  (error: Error): Behaviour =>
  async () => {
    throw error;
  };

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true }),
  );
}

/** Never answers; once the call's signal aborts it fails as a cancelled Triton call would (or as `failure`). */
export const hangs =
  (failure: TritonFailure = "cancelled"): Behaviour =>
  async (call) => {
    await aborted(call.context.signal);
    return failsWith(failure)(call);
  };

/** The error `promise` rejects with; fails the test when it resolves instead. */
export function rejectionOf<E = Error>(promise: Promise<unknown>): Promise<E> {
  return promise.then(
    (value) => Promise.reject(new Error(`expected a rejection, got ${JSON.stringify(value)?.slice(0, 200)}`)),
    (error: unknown) => error as E,
  );
}

/** A promise a test opens when it chooses. */
export class Gate {
  open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
}

/** Answers once `gate` opens (or, like Triton, fails as cancelled when the call is aborted first). */
export const heldBy =
  (gate: Gate): Behaviour =>
  async (call) => {
    await Promise.race([gate.opened, aborted(call.context.signal)]);
    return call.context.signal.aborted ? failsWith("cancelled")(call) : call.answer();
  };

/**
 * An InferenceBackend standing in for Triton: each model answers by the behaviour the test set (default: its
 * proper answer), and every call is recorded with the rows it carried and its context.
 */
export class FakeBackend implements InferenceBackend {
  readonly calls: InferCall[] = [];
  private readonly specs: Map<string, ModelSpec>;
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly waiters: (() => void)[] = [];

  constructor(specs: readonly ModelSpec[]) {
    this.specs = new Map(specs.map((spec) => [spec.triton.model, spec]));
  }

  /** Sets how `model` answers from now on. */
  set(model: string, behaviour: Behaviour): this {
    this.behaviours.set(model, behaviour);
    return this;
  }

  callsTo(model: string): InferCall[] {
    return this.calls.filter((call) => call.model === model);
  }

  /** Resolves once `model` has been called `count` times in all. */
  async reached(model: string, count: number): Promise<void> {
    while (this.callsTo(model).length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  infer(model: string, inputs: InputTensor[], _output: string, context: RequestContext): Promise<Float32Array> {
    const spec = this.specs.get(model)!;
    const rows = rowsOfBatch(inputs);
    const [batch = 0, length = 0] = inputs[0]?.shape ?? [];
    const call: InferCall = { model, rows, cells: batch * length, context, answer: () => modelOutput(spec, rows) };
    this.calls.push(call);
    for (const wake of this.waiters.splice(0)) wake();
    return (this.behaviours.get(model) ?? answers)(call);
  }
}

/** A pipeline of `spec` over the fake encoder and `backend`. */
export function pipelineOf(spec: ModelSpec, backend: InferenceBackend, encoder: RowEncoder = new FakeEncoder()): ModelPipeline {
  return new ModelPipeline(spec, "/no-tokenizers", encoder, backend);
}

/** What ModelMetadata and ModelConfig answer for a model a fake Triton serves. */
export interface ServedModel {
  ready: boolean;
  metadata: ModelMetadataResponse;
  config: ModelConfig;
}

/** How Triton would serve `spec` when deployed as the registry says. */
export function servedAsDeclared(spec: ModelSpec): ServedModel {
  const { inputs, outputs } = expectedTensors(spec);
  return {
    ready: true,
    metadata: ModelMetadataResponse.fromPartial({ name: spec.triton.model, platform: "onnxruntime_onnx", inputs, outputs }),
    config: ModelConfig.fromPartial({ name: spec.triton.model, maxBatchSize: spec.triton.maxBatchSize }),
  };
}

/**
 * One fake Triton server for TritonEndpoints: while `up` is false every call fails "unreachable"; `inferFailure`
 * makes infer fail that way; models are served as `models` says. Counts the calls of each method.
 */
export class FakeTriton implements TritonConnection {
  up = true;
  inferFailure: TritonFailure | undefined;
  readonly models = new Map<string, ServedModel>();
  readonly counts = { serverReady: 0, modelReady: 0, modelMetadata: 0, modelConfig: 0, infer: 0 };
  closed = false;

  constructor(readonly url: string) {}

  async serverReady(): Promise<boolean> {
    this.counts.serverReady++;
    this.reachable();
    return true;
  }

  async modelReady(model: string): Promise<boolean> {
    this.counts.modelReady++;
    this.reachable();
    return this.models.get(model)?.ready ?? false;
  }

  async modelMetadata(model: string): Promise<ModelMetadataResponse> {
    this.counts.modelMetadata++;
    return this.served(model).metadata;
  }

  async modelConfig(model: string): Promise<ModelConfig> {
    this.counts.modelConfig++;
    return this.served(model).config;
  }

  async infer(): Promise<Float32Array> {
    this.counts.infer++;
    this.reachable();
    if (this.inferFailure) throw new TritonError(this.inferFailure, this.url, `${this.url}: ${this.inferFailure}`);
    return Float32Array.of(this.counts.infer);
  }

  close(): void {
    this.closed = true;
  }

  private reachable(): void {
    if (!this.up) throw new TritonError("unreachable", this.url, `${this.url} is down`);
  }

  private served(model: string): ServedModel {
    this.reachable();
    const served = this.models.get(model);
    if (!served?.ready) throw new TritonError("model_not_ready", this.url, `${this.url} does not serve ${model}`);
    return served;
  }
}

type LabelledMetric = { get(): Promise<{ values: { value: number; labels: Record<string, string | number> }[] }> };

/** The value of a counter or gauge for the series with exactly these labels (undefined when it has none). */
export async function metricValue(metric: LabelledMetric, labels: Record<string, string>): Promise<number | undefined> {
  const { values } = await metric.get();
  const same = (other: Record<string, string | number>) =>
    Object.keys(other).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => other[k] === v);
  return values.find((value) => same(value.labels))?.value;
}

/** Every series of a metric, keyed "label=value,...", for asserting a whole metric at once. */
export async function metricSeries(metric: LabelledMetric): Promise<Record<string, number>> {
  const { values } = await metric.get();
  return Object.fromEntries(
    values.map(({ labels, value }) => [
      Object.entries(labels)
        .map(([key, label]) => `${key}=${label}`)
        .join(","),
      value,
    ]),
  );
}
