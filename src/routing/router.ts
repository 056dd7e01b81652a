import type { ModelScorer } from "../models/scorer.js";
import { notFound } from "../api/errors.js";

/**
 * Picks the scorer for a request's model. Today that is the model asked for; the breakers, fallback chain
 * and load shedding of the routing stage hang off this one seam.
 */
export class Router {
  constructor(private readonly scorers: ReadonlyMap<string, ModelScorer>) {}

  route(model: string): ModelScorer {
    const scorer = this.scorers.get(model);
    if (!scorer) throw notFound(`model "${model}" is not served here; available models: ${[...this.scorers.keys()].join(", ")}`);
    return scorer;
  }
}
