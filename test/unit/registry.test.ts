import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultLengthBuckets, loadCatalog, maxRowLength, selectServed } from "../../src/catalog/registry.js";
import { renderModelConfig } from "../../src/triton/model-config.js";
import { findMismatches } from "../../src/triton/model-check.js";

const root = join(import.meta.dirname, "../..");
const registryFile = join(root, "src/catalog/registry.json");
const shipped = JSON.parse(readFileSync(registryFile, "utf8"));

function loadChanged(change: (registry: typeof shipped) => void): () => unknown {
  const registry = structuredClone(shipped);
  change(registry);
  const file = join(mkdtempSync(join(tmpdir(), "registry-")), "registry.json");
  writeFileSync(file, JSON.stringify(registry));
  return () => loadCatalog(file);
}

describe("model registry", () => {
  it("loads the shipped registry: each target's default is a model of that target", () => {
    const catalog = loadCatalog(registryFile);
    for (const target of ["cpu", "gpu"] as const)
      expect(catalog.models.get(catalog.defaultModel[target])?.targets).toContain(target);
  });

  it.each([
    ["an unknown family", (r: typeof shipped) => (r.models[0].family = "rnn"), /unknown family "rnn"/],
    ["a missing default", (r: typeof shipped) => (r.defaultModel.cpu = "x"), /defaultModel.cpu "x" is not a cpu model/],
    ["an unknown target", (r: typeof shipped) => (r.models[0].targets = ["tpu"]), /targets must be a non-empty list of cpu, gpu/],
    [
      "an embedding width on a logit model",
      (r: typeof shipped) => (r.models[0].triton.outputWidth = 8),
      /outputs logits, which triton.outputWidth 8/,
    ],
    ["a dangling fallback", (r: typeof shipped) => (r.models[0].fallback = "gone"), /fallback "gone" is not in the registry/],
    ["a fallback loop", (r: typeof shipped) => (r.models[0].fallback = r.models[0].name), /fallback chain loops/],
    ["a duplicate name", (r: typeof shipped) => r.models.push(r.models[0]), /declared twice/],
    [
      "a window overlap past half a window",
      (r: typeof shipped) => (r.models[0].windowOverlap = 0.6),
      /windowOverlap must be a number from 0 to 0.5/,
    ],
    [
      "segment ids a BERT needs",
      (r: typeof shipped) =>
        delete r.models.find((m: { name: string }) => m.name === "tiny-bert-reranker").triton.inputs.tokenTypeIds,
      /needs triton.inputs.tokenTypeIds/,
    ],
  ])("rejects %s", (_name, change, message) => {
    expect(loadChanged(change)).toThrow(message);
  });

  it("gives every model the default window overlap of split_max unless it sets its own", () => {
    expect(new Set([...loadCatalog(registryFile).models.values()].map((model) => model.windowOverlap))).toEqual(new Set([0.25]));
    const own = loadChanged((r) => (r.models[0].windowOverlap = 0.5))() as ReturnType<typeof loadCatalog>;
    expect(own.models.get(shipped.models[0].name)?.windowOverlap).toBe(0.5);
  });

  it("committed Triton configs are exactly what the registry generates", () => {
    for (const spec of loadCatalog(registryFile).models.values()) {
      for (const target of spec.targets) {
        const path = join("triton-models", target, spec.triton.model, "config.pbtxt");
        expect(readFileSync(join(root, path), "utf8"), `${path}: run npm run triton:configs`).toBe(
          renderModelConfig(spec, target),
        );
      }
    }
  });
});

describe("length buckets", () => {
  it("default ladder: four steps per octave from 16, ending at the longest row", () => {
    expect(defaultLengthBuckets(512)).toEqual([16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512]);
    expect(defaultLengthBuckets(300)).toEqual([16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 300]);
  });

  it("rows of encoders end at maxLength; decoder templates add their prompt outside it", () => {
    expect(maxRowLength("bert", 512)).toBe(512);
    expect(maxRowLength("xlm-roberta", 512)).toBe(512);
    expect(maxRowLength("qwen2-mxbai", 8192)).toBeGreaterThan(8192 + 79);
    expect(maxRowLength("gemma-bge", 512)).toBeGreaterThan(512);
  });

  it("every model gets buckets ending at its longest row unless the registry sets them", () => {
    const catalog = loadCatalog(registryFile);
    for (const spec of catalog.models.values()) {
      expect(spec.triton.lengthBuckets.at(-1), spec.name).toBe(maxRowLength(spec.family, spec.maxLength));
    }
  });
});

describe("selectServed", () => {
  const catalog = loadCatalog(registryFile);

  it("serves every model of the target by default, with the target's default model", () => {
    const served = selectServed(catalog, { target: "cpu" });
    expect([...served.models.values()].every((model) => model.targets.includes("cpu"))).toBe(true);
    expect(served.defaultModel).toBe(catalog.defaultModel.cpu);
  });

  it("serves an explicit list, and rejects unknown names and a default outside it", () => {
    expect([...selectServed(catalog, { target: "cpu", models: ["tiny-bert-reranker"] }).models.keys()]).toEqual([
      "tiny-bert-reranker",
    ]);
    expect(() => selectServed(catalog, { target: "cpu", models: ["nope"] })).toThrow(/registry lacks: nope/);
    expect(() => selectServed(catalog, { target: "cpu", models: ["tiny-bert-reranker"], defaultModel: "x" })).toThrow(
      /RERANK_DEFAULT_MODEL "x" is not among the served models/,
    );
  });
});

describe("findMismatches", () => {
  const spec = loadCatalog(registryFile).models.get("tiny-bert-reranker")!;
  const tensor = (name: string, datatype: string, shape: number[]) => ({ name, datatype, shape });
  const metadata = {
    name: "tiny-bert-reranker",
    versions: ["1"],
    platform: "python",
    inputs: [
      tensor("input_ids", "INT64", [-1, -1]),
      tensor("attention_mask", "INT64", [-1, -1]),
      tensor("token_type_ids", "INT64", [-1, -1]),
    ],
    outputs: [tensor("logits", "FP32", [-1, 1])],
  };
  const config = { maxBatchSize: 32 } as Parameters<typeof findMismatches>[2];

  it("accepts what the registry declares", () => {
    expect(findMismatches(spec, metadata, config)).toEqual([]);
  });

  it("names both sides of each mismatch", () => {
    const served = {
      ...metadata,
      inputs: metadata.inputs.slice(0, 2).concat(tensor("position_ids", "INT64", [-1, -1])),
      outputs: [tensor("logits", "FP16", [-1, 1])],
    };
    expect(findMismatches(spec, served, { ...config, maxBatchSize: 8 })).toEqual([
      "model tiny-bert-reranker (Triton model tiny-bert-reranker): input token_type_ids: registry declares token_type_ids INT64 [-1, -1], Triton serves input_ids, attention_mask, position_ids",
      "model tiny-bert-reranker (Triton model tiny-bert-reranker): input position_ids: Triton requires it, the registry does not declare it",
      "model tiny-bert-reranker (Triton model tiny-bert-reranker): output logits: registry declares logits FP32 [-1, 1], Triton serves logits FP16 [-1, 1]",
      "model tiny-bert-reranker (Triton model tiny-bert-reranker): max_batch_size: registry declares 32, Triton serves 8",
    ]);
  });
});
