/**
 * A token bucket: `ratePerSecond` tokens flow in continuously, up to `capacity`; a request takes its cost in
 * tokens, or is told how long until the bucket will hold them. A full bucket lets a burst of `capacity` through.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    /** Milliseconds from any fixed origin (a fake clock in tests). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = capacity;
    this.refilledAt = now();
  }

  /**
   * Takes `cost` tokens and returns 0, or takes none and returns the milliseconds until `cost` tokens will be there
   * (rounded up). A cost above the capacity never fits: the caller refuses it first.
   */
  take(cost: number): number {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond);
    this.refilledAt = now;
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return 0;
    }
    return Math.ceil(((cost - this.tokens) / this.ratePerSecond) * 1000);
  }
}
