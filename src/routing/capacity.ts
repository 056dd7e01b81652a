import { GatewayError } from "../errors.js";

/** A model too full to take a request's pairs: the router passes it over, and its breaker does not count it. */
export class OverCapacity extends GatewayError {
  constructor(model: string, limit: number) {
    super("overloaded", `model ${model} is at capacity (${limit} pairs in flight)`);
  }
}

/**
 * A bulkhead counted in (query, document) pairs: a model takes at most `limit` pairs in flight. A request that
 * would exceed it is not queued (where it would wait into a timeout) but routed on to the fallback model.
 */
export class PairCapacity {
  private inFlight = 0;

  constructor(readonly limit: number) {}

  get pairsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Reserves `pairs` more for a request that holds `held` already; a request larger than the whole limit is let
   * through when it is alone on the model.
   */
  tryAcquire(pairs: number, held = 0): boolean {
    if (this.inFlight > held && this.inFlight + pairs > this.limit) return false;
    this.inFlight += pairs;
    return true;
  }

  release(pairs: number): void {
    this.inFlight = Math.max(0, this.inFlight - pairs);
  }
}
