/**
 * What the parity tests need to encode like a golden model: the gateway's tokenizer file the golden names (the
 * Qwen2 one built here, as the golden's was) and the tokenization spec of the golden's settings.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPython } from "../../bench/hf-reference.js";
import { bertTokenizerFile, requireFile, sharedData } from "../../bench/test-data.js";
import { TRUNCATION_STRATEGIES, type Family, type TruncationStrategy } from "../../src/catalog/families.js";
import { packageRoot } from "../../src/config/paths.js";
import type { TokenizationSpec } from "../../src/tokenization/encoder.js";

/** The fields of a golden file (make_goldens.py, make_split_goldens.py) that say how its model tokenizes. */
export interface GoldenModel {
  readonly model: string;
  readonly family: Family;
  /** Where the gateway's tokenizer.json comes from, in words starting with its path (see tokenizerFileOf). */
  readonly tokenizer: string;
  readonly settings: {
    readonly maxLength: number;
    readonly truncation: string;
    readonly queryMaxLength?: number | null;
    readonly windowOverlap?: number;
  };
}

/** Every family has goldens: one tiny model each, and all-MiniLM-L6-v2. */
export const GOLDEN_FAMILIES: readonly Family[] = ["bert", "bi-encoder", "deberta-v2", "gemma-bge", "qwen2-mxbai", "xlm-roberta"];

const root = packageRoot();
let scratchDir: string | undefined;
let qwen2File: string | undefined;

/** The Qwen2 tokenizer.json, built once from the shared vocab.json + merges.txt as the golden's was. */
function qwen2TokenizerFile(): string {
  if (!qwen2File) {
    const source = requireFile(join(sharedData, "tokenizers", "qwen2"), "Qwen2 tokenizer test data (vocab.json, merges.txt)");
    scratchDir ??= mkdtempSync(join(tmpdir(), "golden-tokenizers-"));
    runPython(join("test", "fixtures-build", "build_qwen2_tokenizer.py"), [source, join(scratchDir, "qwen2")]);
    qwen2File = join(scratchDir, "qwen2", "tokenizer.json");
  }
  return qwen2File;
}

/** Removes the tokenizers built here (call it after the tests). */
export function removeScratch(): void {
  if (scratchDir) {
    rmSync(scratchDir, { recursive: true, force: true });
  }
  scratchDir = qwen2File = undefined;
}

export function tokenizerFileOf(golden: GoldenModel): string {
  if (golden.tokenizer.startsWith("tokenizers/bert-base-uncased/")) {
    // The golden names the product's copy (ops/setup.sh) of this shared file.
    return requireFile(bertTokenizerFile, "bert-base-uncased tokenizer");
  }
  if (golden.tokenizer.startsWith("test/fixtures/tokenizers/")) {
    return requireFile(join(root, golden.tokenizer), `${golden.model} fixture tokenizer`);
  }
  if (golden.tokenizer.includes("build_qwen2_tokenizer.py")) {
    return qwen2TokenizerFile();
  }
  throw new Error(`${golden.model}: the golden's tokenizer "${golden.tokenizer}" is none this test knows how to get`);
}

export function specOf(golden: GoldenModel): TokenizationSpec {
  const { maxLength, truncation, queryMaxLength, windowOverlap } = golden.settings;
  // A bi-encoder golden truncates each text alone ("single text, right"): HF's longest_first on one sequence.
  const strategy = golden.family === "bi-encoder" ? "longest_first" : truncation;
  if (!TRUNCATION_STRATEGIES.includes(strategy as TruncationStrategy)) {
    throw new Error(`${golden.model}: unknown truncation "${truncation}" in the golden's settings`);
  }
  return {
    tokenizerFile: tokenizerFileOf(golden),
    family: golden.family,
    maxLength,
    truncation: strategy as TruncationStrategy,
    queryMaxLength: queryMaxLength ?? undefined,
    windowOverlap,
  };
}
