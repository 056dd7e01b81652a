import { readFileSync } from "node:fs";
import { FAMILIES, isFamily, type Family, type FamilySpec } from "./families.js";

export type Truncation = "longest_first" | "only_second";
export type ScoreTransform = "sigmoid" | "identity";

/** Triton-side facts about a model: its name in the model repository and its tensor names. */
export interface TritonBinding {
  model: string;
  maxBatchSize: number;
  inputs: { inputIds: string; attentionMask: string; tokenTypeIds?: string };
  output: string;
  /** Dynamic batcher: how long Triton may hold a request to form a larger batch. */
  maxQueueDelayMicroseconds: number;
}

/** One model as the registry file declares it: the single source of truth for the gateway, Triton configs and tests. */
export interface ModelSpec {
  name: string;
  description: string;
  family: Family;
  /** Tokenizer file, relative to the tokenizer folder. */
  tokenizer: string;
  /** Most tokens per (query, document) pair, special tokens included. */
  maxLength: number;
  truncation: Truncation;
  padTokenId: number;
  /** Maps the model's logit to the normalized score clients get by default. */
  score: ScoreTransform;
  /** The next, smaller model of the fallback chain; null ends the chain. */
  fallback: string | null;
  triton: TritonBinding;
}

export interface Registry {
  defaultModel: string;
  models: ReadonlyMap<string, ModelSpec>;
}

export function familyOf(model: ModelSpec): FamilySpec {
  return FAMILIES[model.family];
}

class RegistryError extends Error {
  constructor(file: string, problem: string) {
    super(`model registry ${file}: ${problem}`);
  }
}

const TRUNCATIONS: readonly string[] = ["longest_first", "only_second"];
const SCORE_TRANSFORMS: readonly string[] = ["sigmoid", "identity"];

function checkModel(model: ModelSpec, fail: (problem: string) => never): void {
  const where = `model "${model.name}"`;
  if (!model.name) fail("a model has no name");
  if (!isFamily(model.family)) fail(`${where}: unknown family "${model.family}" (known: ${Object.keys(FAMILIES).join(", ")})`);
  if (!model.tokenizer) fail(`${where}: no tokenizer file`);
  if (!Number.isInteger(model.maxLength) || model.maxLength < 8) fail(`${where}: maxLength must be an integer >= 8`);
  if (!TRUNCATIONS.includes(model.truncation)) fail(`${where}: truncation must be one of ${TRUNCATIONS.join(", ")}`);
  if (!SCORE_TRANSFORMS.includes(model.score)) fail(`${where}: score must be one of ${SCORE_TRANSFORMS.join(", ")}`);
  if (!Number.isInteger(model.padTokenId) || model.padTokenId < 0) fail(`${where}: padTokenId must be a token id`);
  const triton = model.triton;
  if (!triton?.model) fail(`${where}: triton.model is missing`);
  if (!Number.isInteger(triton.maxBatchSize) || triton.maxBatchSize < 1) fail(`${where}: triton.maxBatchSize must be >= 1`);
  if (!triton.inputs?.inputIds || !triton.inputs.attentionMask || !triton.output) {
    fail(`${where}: triton.inputs.inputIds, triton.inputs.attentionMask and triton.output are required`);
  }
  if (FAMILIES[model.family].usesTokenTypeIds !== Boolean(triton.inputs.tokenTypeIds)) {
    fail(
      `${where}: family ${model.family} ${FAMILIES[model.family].usesTokenTypeIds ? "needs" : "takes no"} triton.inputs.tokenTypeIds`,
    );
  }
}

function checkFallbackChains(models: ReadonlyMap<string, ModelSpec>, fail: (problem: string) => never): void {
  for (const model of models.values()) {
    const seen = new Set([model.name]);
    for (let next = model.fallback; next !== null; next = models.get(next)?.fallback ?? null) {
      if (!models.has(next)) fail(`model "${model.name}": fallback "${next}" is not in the registry`);
      if (seen.has(next)) fail(`model "${model.name}": fallback chain loops through "${next}"`);
      seen.add(next);
    }
  }
}

/** Reads and validates the registry; any inconsistency stops start-up with a message naming the model. */
export function loadRegistry(file: string): Registry {
  const fail = (problem: string): never => {
    throw new RegistryError(file, problem);
  };
  let raw: { defaultModel?: string; models?: ModelSpec[] };
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    return fail(`cannot read: ${(error as Error).message}`);
  }
  if (!Array.isArray(raw.models) || raw.models.length === 0) fail("no models");
  const models = new Map<string, ModelSpec>();
  for (const model of raw.models ?? []) {
    checkModel(model, fail);
    if (models.has(model.name)) fail(`model "${model.name}" is declared twice`);
    models.set(model.name, model);
  }
  checkFallbackChains(models, fail);
  const defaultModel = raw.defaultModel ?? "";
  if (!models.has(defaultModel)) fail(`defaultModel "${defaultModel}" is not in the registry`);
  return { defaultModel, models };
}
