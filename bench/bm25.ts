/** Okapi BM25 over an in-memory corpus: the first stage the eval reranks (Anserini's defaults k1=0.9, b=0.4). */
const K1 = 0.9;
const B = 0.4;

/** Lowercased alphanumeric runs; enough for a first-stage baseline. */
export function terms(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class Bm25Index {
  private readonly postings = new Map<string, { doc: number; tf: number }[]>();
  private readonly lengths: number[];
  private readonly averageLength: number;

  constructor(documents: string[]) {
    this.lengths = documents.map((text, doc) => {
      const counts = new Map<string, number>();
      const tokens = terms(text);
      for (const term of tokens) counts.set(term, (counts.get(term) ?? 0) + 1);
      for (const [term, tf] of counts) {
        let list = this.postings.get(term);
        if (!list) this.postings.set(term, (list = []));
        list.push({ doc, tf });
      }
      return tokens.length;
    });
    this.averageLength = this.lengths.reduce((a, b) => a + b, 0) / Math.max(1, this.lengths.length);
  }

  /** The k best documents for the query, as [document index, score], best first. */
  search(query: string, k: number): [number, number][] {
    const scores = new Map<number, number>();
    const documentCount = this.lengths.length;
    for (const term of new Set(terms(query))) {
      const list = this.postings.get(term);
      if (!list) continue;
      const idf = Math.log(1 + (documentCount - list.length + 0.5) / (list.length + 0.5));
      for (const { doc, tf } of list) {
        const norm = tf + K1 * (1 - B + (B * this.lengths[doc]!) / this.averageLength);
        scores.set(doc, (scores.get(doc) ?? 0) + (idf * tf * (K1 + 1)) / norm);
      }
    }
    return [...scores.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, k);
  }
}
