/** Ranking metrics as BEIR reports them (pytrec_eval conventions: graded gains, relevant = grade > 0). */
export type Qrels = Map<string, Map<string, number>>;

export function ndcgAt(ranking: string[], judged: Map<string, number>, k: number): number {
  const dcg = ranking.slice(0, k).reduce((sum, id, rank) => sum + (judged.get(id) ?? 0) / Math.log2(rank + 2), 0);
  const ideal = [...judged.values()]
    .filter((grade) => grade > 0)
    .sort((a, b) => b - a)
    .slice(0, k)
    .reduce((sum, grade, rank) => sum + grade / Math.log2(rank + 2), 0);
  return ideal === 0 ? 0 : dcg / ideal;
}

export function mrrAt(ranking: string[], judged: Map<string, number>, k: number): number {
  const rank = ranking.slice(0, k).findIndex((id) => (judged.get(id) ?? 0) > 0);
  return rank < 0 ? 0 : 1 / (rank + 1);
}

export function recallAt(ranking: string[], judged: Map<string, number>, k: number): number {
  const relevant = [...judged.entries()].filter(([, grade]) => grade > 0).map(([id]) => id);
  if (relevant.length === 0) return 0;
  const top = new Set(ranking.slice(0, k));
  return relevant.filter((id) => top.has(id)).length / relevant.length;
}
