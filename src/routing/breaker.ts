import CircuitBreaker from "opossum";
import type { RoutingSettings } from "../catalog/registry.js";
import { GatewayError, isRequestCaused } from "../errors.js";

export type BreakerState = "closed" | "open" | "half_open";

/** What the caller gets when a call ran past the model's latency budget. */
export class LatencyBudgetExceeded extends Error {
  constructor(
    readonly model: string,
    readonly budgetMs: number,
  ) {
    super(`model ${model} did not answer within its latency budget of ${budgetMs} ms`);
  }
}

/** What a request gets from a model whose breaker refuses calls. */
export function breakerOpen(model: string): GatewayError {
  return new GatewayError("unavailable", `model ${model}: circuit breaker open`);
}

/**
 * A circuit breaker per model (opossum): it opens when, over its rolling window, the share of failed calls
 * (errors, or calls slower than the latency budget) crosses the threshold; after resetTimeoutMs it lets one
 * probe through (half-open) and closes on its success. A client's own deadline running out does not count:
 * the model was not necessarily slow, the client was impatient.
 */
export class ModelBreaker {
  private readonly breaker: CircuitBreaker<[(signal: AbortSignal) => Promise<unknown>, AbortController], unknown>;

  constructor(
    readonly model: string,
    private readonly settings: RoutingSettings,
    onStateChange: (state: BreakerState) => void,
  ) {
    this.breaker = new CircuitBreaker(
      (call: (signal: AbortSignal) => Promise<unknown>, attempt: AbortController) => call(attempt.signal),
      {
        timeout: settings.latencyBudgetMs,
        errorThresholdPercentage: settings.errorThresholdPercentage,
        volumeThreshold: settings.volumeThreshold,
        rollingCountTimeout: settings.rollingWindowMs,
        resetTimeout: settings.resetTimeoutMs,
        // Errors the request caused say nothing about the model's health: they never trip the breaker.
        errorFilter: isRequestCaused,
      },
    );
    this.breaker.on("open", () => onStateChange("open"));
    this.breaker.on("halfOpen", () => onStateChange("half_open"));
    this.breaker.on("close", () => onStateChange("closed"));
  }

  /** True while calls are refused outright: open, or half-open with its one probe already sent. */
  get refusing(): boolean {
    return !this.breaker.closed && !this.breaker.pendingClose;
  }

  /**
   * Runs `call` under the breaker. Past the latency budget the call's signal is aborted (its Triton calls are
   * cancelled) and LatencyBudgetExceeded is thrown; an open breaker throws breakerOpen().
   */
  async run<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const attempt = new AbortController();
    try {
      return (await this.breaker.fire(call, attempt)) as T;
    } catch (error) {
      attempt.abort();
      const code = (error as { code?: string }).code;
      if (code === "ETIMEDOUT") throw new LatencyBudgetExceeded(this.model, this.settings.latencyBudgetMs);
      if (code === "EOPENBREAKER") throw breakerOpen(this.model);
      throw error;
    }
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}
