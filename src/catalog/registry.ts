import { readFileSync } from "node:fs";
import { z } from "zod";
import { FAMILIES, TRUNCATION_STRATEGIES, type Family, type FamilySpec, type TruncationStrategy } from "./families.js";

/** Which Triton model repository a model belongs to: CPU (tests, laptops) or GPU (production). */
export type Target = "cpu" | "gpu";

/** Triton-side facts about a model: its name in the model repository and its tensor names. */
export interface TritonBinding {
  model: string;
  maxBatchSize: number;
  inputs: { inputIds: string; attentionMask: string; tokenTypeIds?: string };
  output: string;
  /** Values per row of the output: 1 for a relevance logit, the embedding size for a bi-encoder. */
  outputWidth?: number;
  /** Dynamic batcher: how long Triton may hold a request to form a larger batch. */
  maxQueueDelayMicroseconds: number;
  /**
   * Sequence lengths a batch is padded up to (ascending). Triton's dynamic batcher merges only requests of one
   * shape, so concurrent requests must land on few lengths; the GPU config's TensorRT profiles cover them. A row
   * longer than the last bucket pads to its own length. Default: defaultLengthBuckets(maxRowLength(...)).
   */
  lengthBuckets: number[];
}

/** Room above maxLength for the prompt a decoder template adds outside truncation (mxbai-v2: 79 tokens). */
const PROMPT_ALLOWANCE = 128;

/** The longest row a model of this family gets: maxLength, plus the prompt where the template adds one outside it. */
export function maxRowLength(family: Family, maxLength: number): number {
  const addsPrompt = FAMILIES[family].template.pieces.some(
    (piece) => "budget" in piece && (piece.budget === "excluded" || piece.budget === "widens"),
  );
  return maxLength + (addsPrompt ? PROMPT_ALLOWANCE : 0);
}

/**
 * Four lengths per octave, steps of at least 16 (16, 32, 48, 64, 80, ..., 128, 160, 192, 224, 256, 320, ...), ending
 * at the longest row: padding up to the next one costs at most 25% of a row and about 12% on average, while a
 * request's batches land on a handful of shapes.
 */
export function defaultLengthBuckets(longestRow: number): number[] {
  const buckets: number[] = [];
  for (let length = 16; length < longestRow; length += Math.max(16, 2 ** Math.floor(Math.log2(length)) / 4)) {
    buckets.push(length);
  }
  return [...buckets, longestRow];
}

/** How the routing stage protects a model; every field has a default (DEFAULT_ROUTING). */
export interface RoutingSettings {
  /**
   * A Triton call's budget is latencyBudgetMs + budgetSlack × (cost per cell) × (padded cells of the call and of
   * the calls queued ahead of it on this model); a call past it counts as a failure and the request moves on to the
   * fallback. latencyBudgetMs is what a call of almost no work may take.
   */
  latencyBudgetMs: number;
  /** The cost per 1000 padded cells assumed until the model's own is learned from its first calls. */
  msPerKiloCell: number;
  /** How many times its expected time a call may take before it counts as slow. */
  budgetSlack: number;
  /** The breaker opens when this share of calls in the rolling window failed... */
  errorThresholdPercentage: number;
  /** ...once the window holds at least this many calls. */
  volumeThreshold: number;
  /** Rolling window of the breaker's statistics. */
  rollingWindowMs: number;
  /** An open breaker lets one probe through (half-open) after this long. */
  resetTimeoutMs: number;
  /** Most (query, document) pairs in flight at once; more is routed to the fallback, not queued. */
  capacityPairs: number;
}

const DEFAULT_ROUTING: RoutingSettings = {
  latencyBudgetMs: 2_000,
  // Deliberately slow: a MiniLM-size model on 2 busy CPU cores (tokenizer threads beside Triton) measured up to
  // ~1000 ms per 1000 cells; a GPU is far faster. The model's own cost is learned within 5 calls.
  msPerKiloCell: 1_000,
  budgetSlack: 4,
  errorThresholdPercentage: 50,
  volumeThreshold: 5,
  rollingWindowMs: 10_000,
  resetTimeoutMs: 5_000,
  capacityPairs: 2_048,
};

/**
 * A quarter of each window is read again by the next one: a passage of up to a quarter window lies whole in some
 * window wherever it starts in the document, for a third more windows than none.
 */
export const DEFAULT_WINDOW_OVERLAP = 0.25;

/** One model as the registry file declares it: the single source of truth for the gateway, Triton configs and tests. */
export interface ModelSpec {
  name: string;
  description: string;
  family: Family;
  /** Tokenizer file, relative to the tokenizer folder. */
  tokenizer: string;
  /** Most tokens per (query, document) pair, special tokens included (for decoders: without the fixed prompt). */
  maxLength: number;
  /** Families that cap the query on its own (FlagEmbedding, mxbai-rerank-v2: 3/4 of maxLength). */
  queryMaxLength?: number;
  truncation: TruncationStrategy;
  padTokenId: number;
  /** sigmoid(logit - scoreCenter), for sigmoid families: mxbai-rerank-v2 centres its logits at estimated_max / 2. Default 0. */
  scoreCenter?: number;
  /**
   * long_documents=split_max: the share of a window's document tokens that the next window repeats, from 0 to 0.5
   * (rounded down to whole tokens). Default DEFAULT_WINDOW_OVERLAP.
   */
  windowOverlap: number;
  /** The next, smaller model of the fallback chain; null ends the chain. */
  fallback: string | null;
  /** The Triton model repositories it is generated for. */
  targets: Target[];
  /** Breaker, latency budget and capacity; omitted fields take DEFAULT_ROUTING. */
  routing: RoutingSettings;
  triton: TritonBinding;
}

/** Every model of the registry file, validated. */
export interface ModelCatalog {
  defaultModel: Record<Target, string>;
  models: ReadonlyMap<string, ModelSpec>;
}

/** The models one gateway serves, and the one used when a request names none. */
export interface Registry {
  defaultModel: string;
  models: ReadonlyMap<string, ModelSpec>;
}

/** Which models a deployment serves: every model of its target, or an explicit list. */
export interface ServingSelection {
  target: Target;
  models?: readonly string[];
  defaultModel?: string;
}

export function familyOf(model: ModelSpec): FamilySpec {
  return FAMILIES[model.family];
}

class RegistryError extends Error {
  constructor(file: string, problem: string) {
    super(`model registry ${file}: ${problem}`);
  }
}

// Messages of field checks start with "must" and get the field's path in front; the others are whole sentences.
const integer = (min: number) =>
  z.int({ error: `must be an integer >= ${min}` }).min(min, { error: `must be an integer >= ${min}` });
const positive = z.number({ error: "must be a positive number" }).positive({ error: "must be a positive number" });
const text = z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" });
const TARGETS_ALLOWED = "must be a non-empty list of cpu, gpu";
const familyNames = Object.keys(FAMILIES) as [Family, ...Family[]];

const TRITON_BINDING = z.object({
  model: text,
  maxBatchSize: integer(1),
  inputs: z.object({ inputIds: text, attentionMask: text, tokenTypeIds: text.optional() }, { error: "must be an object" }),
  output: text,
  outputWidth: integer(1).optional(),
  maxQueueDelayMicroseconds: integer(0),
  lengthBuckets: z
    .array(integer(1), { error: "must be a list of integers" })
    .refine((buckets) => buckets.every((length, index) => length > (buckets[index - 1] ?? 0)), {
      error: "must be ascending positive integers",
    })
    .optional(),
});

const MODEL = z
  .object({
    name: z.string({ error: "a model has no name" }).min(1, { error: "a model has no name" }),
    description: z.string({ error: "must be a string" }).default(""),
    family: z.enum(familyNames, {
      error: (issue) => `unknown family ${JSON.stringify(issue.input)} (known: ${familyNames.join(", ")})`,
    }),
    tokenizer: text,
    maxLength: integer(8),
    queryMaxLength: integer(1).optional(),
    truncation: z.enum(TRUNCATION_STRATEGIES as [TruncationStrategy, ...TruncationStrategy[]], {
      error: `must be one of ${TRUNCATION_STRATEGIES.join(", ")}`,
    }),
    padTokenId: integer(0),
    scoreCenter: z.number({ error: "must be a number" }).optional(),
    windowOverlap: z
      .number({ error: "must be a number from 0 to 0.5" })
      .min(0, { error: "must be a number from 0 to 0.5" })
      .max(0.5, { error: "must be a number from 0 to 0.5" })
      .default(DEFAULT_WINDOW_OVERLAP),
    fallback: z.string({ error: "must be a model name or null" }).nullable(),
    targets: z
      .array(z.enum(["cpu", "gpu"], { error: TARGETS_ALLOWED }), { error: TARGETS_ALLOWED })
      .min(1, { error: TARGETS_ALLOWED }),
    routing: z
      .object(
        Object.fromEntries(Object.keys(DEFAULT_ROUTING).map((key) => [key, positive.optional()])) as Record<
          keyof RoutingSettings,
          z.ZodOptional<typeof positive>
        >,
      )
      .strict()
      .optional(),
    triton: TRITON_BINDING,
  })
  .strict()
  .superRefine((model, context) => {
    const family = FAMILIES[model.family];
    const fail = (message: string) => context.addIssue({ code: "custom", message });
    if (model.queryMaxLength !== undefined && model.queryMaxLength >= model.maxLength) {
      fail(`queryMaxLength must be an integer below maxLength`);
    }
    const width = model.triton.outputWidth ?? 1;
    if ((family.output === "logit") !== (width === 1)) {
      fail(`family ${model.family} outputs ${family.output}s, which triton.outputWidth ${width} contradicts`);
    }
    if (family.usesTokenTypeIds !== Boolean(model.triton.inputs.tokenTypeIds)) {
      fail(`family ${model.family} ${family.usesTokenTypeIds ? "needs" : "takes no"} triton.inputs.tokenTypeIds`);
    }
  })
  .transform((model): ModelSpec => ({
    ...model,
    routing: { ...DEFAULT_ROUTING, ...model.routing },
    triton: {
      ...model.triton,
      lengthBuckets: model.triton.lengthBuckets ?? defaultLengthBuckets(maxRowLength(model.family, model.maxLength)),
    },
  }));

const REGISTRY_FILE = z.object({
  defaultModel: z.object({ cpu: z.string().optional(), gpu: z.string().optional() }).optional(),
  models: z.array(z.unknown(), { error: "no models" }).min(1, { error: "no models" }),
});

/** One line for a schema problem of one model: `where` names the model, the line names the field. */
function describeIssue(issue: z.core.$ZodIssue, where: string): string {
  // An item's problem is its list's: "targets must ...", not "targets.0 must ...".
  const field = issue.path.filter((key) => typeof key === "string");
  if (issue.code === "unrecognized_keys")
    return `${where}: unknown field ${issue.keys.map((key) => [...field, key].join(".")).join(", ")}`;
  return issue.message.startsWith("must") ? `${where}: ${field.join(".")} ${issue.message}` : `${where}: ${issue.message}`;
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

/** Reads and validates the registry file; any inconsistency stops start-up with a message naming the model and field. */
export function loadCatalog(file: string): ModelCatalog {
  const fail = (problem: string): never => {
    throw new RegistryError(file, problem);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    return fail(`cannot read: ${(error as Error).message}`);
  }
  const registry = REGISTRY_FILE.safeParse(raw);
  if (!registry.success) return fail(registry.error.issues[0]!.message);
  const models = new Map<string, ModelSpec>();
  registry.data.models.forEach((declared, index) => {
    const model = MODEL.safeParse(declared);
    if (!model.success) {
      const name = (declared as { name?: unknown } | null)?.name;
      fail(describeIssue(model.error.issues[0]!, typeof name === "string" && name ? `model "${name}"` : `model #${index}`));
    }
    if (models.has(model.data!.name)) fail(`model "${model.data!.name}" is declared twice`);
    models.set(model.data!.name, model.data!);
  });
  checkFallbackChains(models, fail);
  const defaultModel = { cpu: registry.data.defaultModel?.cpu ?? "", gpu: registry.data.defaultModel?.gpu ?? "" };
  for (const target of ["cpu", "gpu"] as const) {
    const name = defaultModel[target];
    if (!models.get(name)?.targets.includes(target))
      fail(`defaultModel.${target} "${name}" is not a ${target} model of the registry`);
  }
  return { defaultModel, models };
}

/** The models a deployment serves, checked against the catalog. */
export function selectServed(catalog: ModelCatalog, selection: ServingSelection): Registry {
  const names =
    selection.models ??
    [...catalog.models.values()].filter((model) => model.targets.includes(selection.target)).map((m) => m.name);
  const unknown = names.filter((name) => !catalog.models.has(name));
  if (unknown.length > 0) {
    throw new Error(
      `RERANK_MODELS names models the registry lacks: ${unknown.join(", ")} (known: ${[...catalog.models.keys()].join(", ")})`,
    );
  }
  const models = new Map(names.map((name) => [name, catalog.models.get(name)!]));
  const wanted = selection.defaultModel ?? catalog.defaultModel[selection.target];
  const defaultModel = models.has(wanted) ? wanted : (names[0] ?? "");
  if (!models.has(defaultModel)) throw new Error(`no model to serve for target ${selection.target}`);
  if (selection.defaultModel && defaultModel !== selection.defaultModel) {
    throw new Error(`RERANK_DEFAULT_MODEL "${selection.defaultModel}" is not among the served models: ${names.join(", ")}`);
  }
  return { defaultModel, models };
}

export function loadRegistry(file: string, selection: ServingSelection): Registry {
  return selectServed(loadCatalog(file), selection);
}

/**
 * Leaves out the models `isDeployable` rejects (e.g. whose tokenizer file is absent) when they were selected by
 * target; a model named explicitly must be deployable. Returns what is left and the names left out.
 */
export function deployable(
  registry: Registry,
  selection: ServingSelection,
  isDeployable: (model: ModelSpec) => boolean,
): { registry: Registry; skipped: ModelSpec[] } {
  const skipped = [...registry.models.values()].filter((model) => !isDeployable(model));
  const names = skipped.map((model) => model.name);
  if (skipped.length > 0 && selection.models)
    throw new Error(`RERANK_MODELS names models that cannot be served here: ${names.join(", ")}`);
  if (names.includes(registry.defaultModel)) throw new Error(`the default model ${registry.defaultModel} cannot be served here`);
  const models = new Map([...registry.models].filter(([name]) => !names.includes(name)));
  return { registry: { defaultModel: registry.defaultModel, models }, skipped };
}
