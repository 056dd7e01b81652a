/** Reads a BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) for benchmarks and evaluation. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface BeirDataset {
  corpus: { id: string; text: string }[];
  queries: { id: string; text: string }[];
}

/** qrels/test.tsv: query id, document id, grade; with or without a header row. */
export function loadQrels(dir: string): Map<string, Map<string, number>> {
  const file = join(dir, "qrels", "test.tsv");
  if (!existsSync(file)) throw new Error(`BEIR dataset incomplete: ${file} is missing`);
  const qrels = new Map<string, Map<string, number>>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [queryId, documentId, grade] = line.trim().split("\t");
    if (!queryId || !documentId || grade === undefined || !/^-?\d+$/.test(grade)) continue; // header or blank
    let judged = qrels.get(queryId);
    if (!judged) qrels.set(queryId, (judged = new Map()));
    judged.set(documentId, Number(grade));
  }
  return qrels;
}

function readJsonLines<T>(file: string): T[] {
  // BEIR corpora can contain U+2028 inside passages: split on "\n" only.
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as T);
}

export function loadBeir(dir: string): BeirDataset {
  for (const name of ["corpus.jsonl", "queries.jsonl"]) {
    if (!existsSync(join(dir, name))) {
      throw new Error(
        `BEIR dataset incomplete: ${join(dir, name)} is missing (expected the msmarco-5k test data beside the project, in ../shared/data/beir)`,
      );
    }
  }
  type Passage = { _id: string; title?: string; text: string };
  const corpus = readJsonLines<Passage>(join(dir, "corpus.jsonl")).map((p) => ({
    id: p._id,
    text: p.title ? `${p.title} ${p.text}` : p.text,
  }));
  const queries = readJsonLines<Passage>(join(dir, "queries.jsonl")).map((q) => ({ id: q._id, text: q.text }));
  return { corpus, queries };
}
