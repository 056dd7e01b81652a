/**
 * What the tokenization parity test and bench/tokenizers.ts share: the msmarco-5k test data, hand-picked
 * non-ASCII strings, and reference encodings from Python `tokenizers` (hf_reference.py, run live).
 * Anything missing throws an error naming it: these checks must never pass by skipping.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { pathToFileURL } from "node:url";
import { packageRoot } from "../../src/config/paths.js";
import type { EncodedBatch } from "../../src/models/tokenization/encoded-batch.js";
import type { TokenizationSpec } from "../../src/models/tokenization/encoder.js";
import type { TokenizerPool } from "../../src/models/tokenization/pool.js";

const root = packageRoot();
export const sharedData = join(root, "..", "shared", "data");

export const bertTokenizerFile = join(sharedData, "tokenizers", "bert-base-uncased", "tokenizer.json");
/** The same vocabulary, but its tokenizer.json enables truncation at 256 and padding of its own. */
export const miniLmTokenizerFile = join(sharedData, "tokenizers", "bert-base-uncased", "all-minilm-l6-v2.tokenizer.json");

/** Strings the msmarco passages rarely or never exercise; each is used as a query and as a document. */
export const nonAsciiSamples: readonly string[] = [
  "Ünïcödé façade naïve Straße İstanbul ǅ ﬁ ligature",
  "東京タワーは日本の電波塔です。北京大学の学生",
  "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷",
  "control\u0000\u0001\u0007 chars\ttab\r\nnewline\u000bvtab\u000cff\u0085nel",
  "zero\u200bwidth\u200d joiner \ufeffbom \ufffd replacement",
  "line\u2028separator\u2029paragraph",
  "combining e\u0301 a\u0308 o\u0323\u0302",
  "Ελληνικά Русский текст العربية עברית हिन्दी ไทย 한국어",
  "ΟΔΥΣΣΕΥΣ ΣΊΣΥΦΟΣ final sigma Σ ß ẞ Ǆemal",
  `${"a".repeat(150)} word longer than wordpiece's 100 chars`,
  "$100.50 → €, ½ ¾ ² ³ ™ © ® Ⅻ ① ㈱ ｆｕｌｌｗｉｄｔｈ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
  "special tokens in text: [CLS] [SEP] [MASK] [UNK] [PAD]",
  "\u00a0nbsp\u3000ideographic space  leading and trailing  ",
  "",
];

export function requireFile(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(`missing ${what}: ${path} (tokenization parity needs ../shared/data next to the repository)`);
  }
  return path;
}

/** Texts of a BEIR jsonl file. Split on "\n" only: passages contain U+2028, which other splitters break on. */
function readBeirTexts(file: string): string[] {
  return readFileSync(requireFile(join(sharedData, "beir", "msmarco-5k", file), "msmarco-5k test data"), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => (JSON.parse(line) as { text: string }).text);
}

export function readMsmarco(): { passages: string[]; queries: string[] } {
  requireFile(bertTokenizerFile, "bert-base-uncased tokenizer");
  requireFile(miniLmTokenizerFile, "all-minilm-l6-v2 tokenizer");
  return { passages: readBeirTexts("corpus.jsonl"), queries: readBeirTexts("queries.jsonl") };
}

export interface PairRequest {
  readonly query: string;
  readonly documents: readonly string[];
}

/** One (query, document) pair as HF encodes it, or the error HF raised for it. */
export type ReferencePair =
  { readonly ids: number[]; readonly typeIds: number[]; readonly truncated: boolean } | { readonly error: string };

export interface ReferenceEncodings {
  readonly tokenizersVersion: string;
  /** Per request, per document. */
  readonly requests: ReferencePair[][];
}

/**
 * Runs a python script of the repository with RERANK_PYTHON, or the project venv's python (which has
 * `tokenizers`), and returns its stdout; a failure names the script, the python and why.
 */
export function runPython(script: string, args: readonly string[] = [], input?: string): string {
  const configured = process.env.RERANK_PYTHON ?? ".venv/bin/python";
  const python = isAbsolute(configured) || !configured.includes("/") ? configured : join(root, configured);
  const run = spawnSync(python, [join(root, script), ...args], { input, maxBuffer: 1 << 30, encoding: "utf8" });
  if (run.error || run.status !== 0) {
    // A python without `tokenizers` exits before reading stdin: its stderr says more than the EPIPE.
    const why = run.stderr?.trim() || run.error?.message || `exit code ${run.status}`;
    throw new Error(`${script} failed under ${python} (RERANK_PYTHON, a python with \`tokenizers\`): ${why}`);
  }
  return run.stdout;
}

export function hfReference(spec: Omit<TokenizationSpec, "template">, requests: readonly PairRequest[]): ReferenceEncodings {
  const output = runPython(join("test", "parity", "hf_reference.py"), [], JSON.stringify({ ...spec, requests }));
  return JSON.parse(output) as ReferenceEncodings;
}

/** TokenizerPool from dist/: its worker threads run the compiled worker.js. */
export async function importBuiltPool(): Promise<typeof TokenizerPool> {
  const built = join(root, "dist", "src", "models", "tokenization", "pool.js");
  if (!existsSync(built)) {
    throw new Error(`missing ${built}: the pool's worker runs from the build, run \`npm run build\` first`);
  }
  const module = (await import(pathToFileURL(built).href)) as typeof import("../../src/models/tokenization/pool.js");
  return module.TokenizerPool;
}

/** A batch's pairs as plain arrays, the shape the reference has. */
export function unpackPairs(batch: EncodedBatch): { ids: number[]; typeIds: number[] | null; truncated: boolean }[] {
  return Array.from(batch.truncated, (truncated, pair) => {
    const [begin, end] = [batch.offsets[pair], batch.offsets[pair + 1]];
    return {
      ids: Array.from(batch.ids.subarray(begin, end)),
      typeIds: batch.typeIds && Array.from(batch.typeIds.subarray(begin, end)),
      truncated: truncated === 1,
    };
  });
}
