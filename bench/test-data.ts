/**
 * The test data beside the project (../shared/data) that the benchmarks and the parity tests share: msmarco-5k
 * and the bert-base-uncased tokenizers, plus hand-picked non-ASCII strings. Anything missing throws an error
 * naming it: these checks must never pass by skipping. The running product never reads any of it.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../src/config/paths.js";

export const sharedData = join(packageRoot(), "..", "shared", "data");

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
    throw new Error(`missing ${what}: ${path} (the parity tests and benchmarks need ../shared/data next to the repository)`);
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

/**
 * A long document: msmarco passages from `first` on (wrapping around), joined by spaces, cut to `chars`
 * characters. The parity tests' long documents (thousands of tokens) and the benchmarks' 3.6 MB ones.
 */
export function joinPassages(passages: readonly string[], first: number, chars: number): string {
  const parts: string[] = [];
  let length = 0;
  for (let passage = first; length < chars && passages.length > 0; passage++) {
    const text = passages[passage % passages.length] ?? "";
    parts.push(text);
    length += text.length + 1;
  }
  return parts.join(" ").slice(0, chars);
}
