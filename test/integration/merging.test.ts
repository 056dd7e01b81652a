/**
 * Batches Triton can merge: with the GPU configs' batching (no ragged inputs, so Triton's dynamic batcher merges
 * only requests of one shape), length buckets let concurrent requests share shapes. Proved with Triton's own
 * metrics: requests per model execution (nv_inference_request_success ÷ nv_inference_exec_count).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadCatalog } from "../../src/catalog/registry.js";
import { renderModelConfig } from "../../src/triton/model-config.js";
import { clearFault, setFault } from "../support/faults.js";
import { startGateway } from "../support/gateway.js";
import { metric } from "../support/metrics.js";
import { tritonProcess, type TritonProcess } from "../support/triton-process.js";

const root = join(import.meta.dirname, "..", "..");
const MODEL = "tiny-bert-reranker";
const registryFile = join(root, "src/catalog/registry.json");
const CLIENTS = 16;

/**
 * A repository serving MODEL on CPU with GPU-style batching: the same weights, no ragged inputs, and the test model
 * (test/triton/fault_injecting_reranker.py), whose delay keeps an execution busy while the next requests queue.
 */
function gpuLikeRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), "rerank-merge-repo-"));
  const spec = loadCatalog(registryFile).models.get(MODEL)!;
  mkdirSync(join(dir, MODEL, "1"), { recursive: true });
  writeFileSync(join(dir, MODEL, "config.pbtxt"), renderModelConfig(spec, "cpu", { raggedBatching: false }));
  symlinkSync(join(root, "triton-models/cpu", MODEL, "1", "model.onnx"), join(dir, MODEL, "1", "model.onnx"));
  symlinkSync(join(root, "test/triton/fault_injecting_reranker.py"), join(dir, MODEL, "1", "model.py"));
  return dir;
}

/** The shipped registry with MODEL's length buckets replaced (an empty list: each batch pads to its own longest row). */
function registryWithBuckets(lengthBuckets: number[] | undefined): string {
  const registry = JSON.parse(readFileSync(registryFile, "utf8"));
  const model = registry.models.find((candidate: { name: string }) => candidate.name === MODEL);
  if (lengthBuckets) model.triton.lengthBuckets = lengthBuckets;
  const file = join(mkdtempSync(join(tmpdir(), "rerank-registry-")), "registry.json");
  writeFileSync(file, JSON.stringify(registry));
  return file;
}

/**
 * Four documents of 44 to 59 words ("data", one bert token each): with the query and special tokens every row is 49 to
 * 64 tokens, one length bucket (64), while each request's longest row, its shape without buckets, varies.
 */
const documentsFor = (client: number) =>
  Array.from({ length: 4 }, (_, i) => Array.from({ length: 44 + ((client * 7 + i * 3) % 16) }, () => "data").join(" "));

let triton: TritonProcess;
let repository: string;
beforeAll(() => {
  repository = gpuLikeRepository();
  return tritonProcess(join(root, ".run", "test-triton-merging"), {
    TRITON_MODEL_REPOSITORY: repository,
    RERANK_FAULT_INJECTION_DIR: inject("faultDir"),
  }).then((started) => {
    triton = started;
    triton.start(MODEL);
    // Each execution takes 150 ms: requests sent meanwhile wait in Triton's queue, where only equal shapes merge.
    setFault(MODEL, { delay_ms: 150 });
  });
});
afterAll(() => {
  clearFault(MODEL);
  triton?.stop();
  rmSync(repository, { recursive: true, force: true });
});

/** Requests per execution of MODEL over one burst of CLIENTS concurrent requests, waves of them in a row. */
async function requestsPerExecution(lengthBuckets: number[] | undefined): Promise<number> {
  const gateway = await startGateway({
    TRITON_GRPC_URL: triton.grpcUrl,
    RERANK_MODELS: MODEL,
    RERANK_REGISTRY: registryWithBuckets(lengthBuckets),
  });
  const counters = async () =>
    Promise.all([
      metric(triton.metricsUrl, "nv_inference_request_success", { model: MODEL }),
      metric(triton.metricsUrl, "nv_inference_exec_count", { model: MODEL }),
    ]);
  try {
    const [requestsBefore = 0, executionsBefore = 0] = await counters();
    for (let wave = 0; wave < 3; wave++) {
      await Promise.all(
        Array.from({ length: CLIENTS }, (_, client) =>
          gateway.rerank({ query: "which data", documents: documentsFor(client), model: MODEL }),
        ),
      );
    }
    const [requests = 0, executions = 0] = await counters();
    return (requests - requestsBefore) / (executions - executionsBefore);
  } finally {
    await gateway.stop();
  }
}

describe("length buckets", () => {
  it("let Triton merge concurrent requests that batch like the GPU configs (no ragged inputs)", async () => {
    const bucketed = await requestsPerExecution(undefined);
    const unbucketed = await requestsPerExecution([]);
    const seen = `requests per execution: bucketed ${bucketed}, unbucketed ${unbucketed}`;
    expect(bucketed, seen).toBeGreaterThan(2);
    expect(bucketed, seen).toBeGreaterThan(unbucketed * 1.5);
  });
});
