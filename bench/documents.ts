/**
 * The benchmarks' documents, all natural text from msmarco-5k (../shared/data/beir/msmarco-5k, BEIR_DIR):
 *  - short: the passages as they are (about 60 words, ~80 bert-base-uncased tokens);
 *  - long: consecutive passages joined until the text has at least LONG_DOCUMENT_TOKENS tokens (bert-base-uncased,
 *    without special tokens; measured, not estimated);
 *  - huge: passages joined up to a size in bytes, for head-of-line blocking.
 * Fresh copies (Fresh.tag) are texts the gateway has never seen: a tag unique to this run and document goes in
 * front, so a token cache cannot have them ("cold"); sending the same texts again is "warm".
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Tokenizer } from "tokenizers";
import { packageRoot } from "../src/config/paths.js";
import { loadBeir } from "./beir.js";
import { pick } from "./stats.js";
import { bertTokenizerFile } from "./test-data.js";

export const LONG_DOCUMENT_TOKENS = 256;
const LONG_DOCUMENTS = 400;

export const beirDir = (): string => process.env.BEIR_DIR ?? join(packageRoot(), "..", "shared", "data", "beir", "msmarco-5k");

export interface Documents {
  queries: string[];
  short: string[];
  long: string[];
}

/** Joins passages from `start` on (wrapping around) until `done` says the text is long enough. */
function joinPassages(passages: readonly string[], start: number, done: (text: string) => boolean): string {
  let text = "";
  for (let index = start % passages.length; !done(text); index = (index + 1) % passages.length) {
    text = text ? `${text} ${passages[index]}` : passages[index]!;
  }
  return text;
}

async function longDocuments(passages: readonly string[], random: () => number): Promise<string[]> {
  const tokenizer = Tokenizer.fromFile(bertTokenizerFile);
  tokenizer.disableTruncation();
  const documents: string[] = [];
  for (let i = 0; i < LONG_DOCUMENTS; i++) {
    let text = joinPassages(passages, Math.floor(random() * passages.length), (joined) => joined.length > 1_000);
    // Add passages until the tokenizer agrees that the text is long enough.
    for (;;) {
      const [encoding] = await tokenizer.encodeBatch([text], { addSpecialTokens: false });
      if (encoding!.getIds().length >= LONG_DOCUMENT_TOKENS) break;
      text = `${text} ${pick(random, passages)}`;
    }
    documents.push(text);
  }
  return documents;
}

export async function loadDocuments(random: () => number): Promise<Documents> {
  const dataset = loadBeir(beirDir());
  const short = dataset.corpus.map((passage) => passage.text);
  return { queries: dataset.queries.map((query) => query.text), short, long: await longDocuments(short, random) };
}

/** About `bytes` UTF-8 bytes of passages joined with spaces (msmarco is nearly all ASCII), from `start` on. */
export function hugeDocument(passages: readonly string[], bytes: number, start = 0): string {
  const text = joinPassages(passages, start, (joined) => joined.length >= bytes);
  return Buffer.from(text)
    .subarray(0, bytes)
    .toString()
    .replace(/\uFFFD$/, "");
}

/** Makes texts the gateway has never seen: a tag unique to this run and to each call goes in front. */
export class Fresh {
  private readonly run = randomBytes(3).toString("hex");
  private count = 0;

  tag(text: string): string {
    return `[${this.run}.${(this.count++).toString(36)}] ${text}`;
  }
}
