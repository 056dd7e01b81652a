import { setTimeout as sleep } from "node:timers/promises";
import { GatewayError } from "../errors.js";
import type { GatewayHealth } from "./health.js";

/**
 * Graceful drain: counts the calls in flight and, once draining, refuses new ones (UNAVAILABLE, HTTP 503) while the
 * health services say NOT_SERVING, so that a call is either refused at once or answered, never accepted and cut.
 */
export class Drain {
  private inFlight = 0;
  private resolveIdle = () => {};
  private readonly idle = new Promise<void>((resolve) => (this.resolveIdle = resolve));

  constructor(private readonly health: GatewayHealth) {}

  /** Runs a call that drain() waits for; refused once draining. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.health.draining) {
      throw new GatewayError("unavailable", "the gateway is shutting down; retry the call on another replica");
    }
    this.inFlight++;
    try {
      return await call();
    } finally {
      if (--this.inFlight === 0 && this.health.draining) this.resolveIdle();
    }
  }

  /** Calls in flight now. */
  get calls(): number {
    return this.inFlight;
  }

  /**
   * Goes NOT_SERVING, refuses new calls and waits up to `graceMs` for those in flight. Resolves with how many were
   * still running when the grace period ran out (0: every call finished).
   */
  async drain(graceMs: number): Promise<number> {
    this.health.drain();
    if (this.inFlight === 0) return 0;
    const grace = new AbortController();
    await Promise.race([this.idle, sleep(graceMs, undefined, { signal: grace.signal }).catch(() => undefined)]);
    grace.abort();
    return this.inFlight;
  }
}
