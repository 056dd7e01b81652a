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

  /** Reserves `pairs`; a request larger than the whole limit is let through when the model is idle. */
  tryAcquire(pairs: number): boolean {
    if (this.inFlight > 0 && this.inFlight + pairs > this.limit) return false;
    this.inFlight += pairs;
    return true;
  }

  release(pairs: number): void {
    this.inFlight = Math.max(0, this.inFlight - pairs);
  }
}
