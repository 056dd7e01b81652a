import CircuitBreaker from "opossum";
import type { RoutingSettings } from "../catalog/registry.js";
import { GatewayError, isRequestCaused } from "../errors.js";
import { OverCapacity } from "./capacity.js";

export type BreakerState = "closed" | "open" | "half_open";

/** What a request gets from a model whose breaker refuses calls. */
export function breakerOpen(model: string): GatewayError {
  return new GatewayError("unavailable", `model ${model}: circuit breaker open`);
}

/**
 * A circuit breaker per model (opossum): it opens when, over its rolling window, the share of failed calls crosses
 * the threshold; after resetTimeoutMs it lets one probe through (half-open) and closes on its success. Slowness is
 * judged by the pipeline against each Triton call's work (WorkBudget), not by a fixed timeout here: a call over its
 * budget fails, and counts. Errors the request caused (bad input, the client's deadline or cancel) never count, nor
 * a split request that found the model full once its windows were counted.
 */
export class ModelBreaker {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;

  constructor(
    readonly model: string,
    settings: RoutingSettings,
    onStateChange: (state: BreakerState) => void,
  ) {
    this.breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
      timeout: false,
      errorThresholdPercentage: settings.errorThresholdPercentage,
      volumeThreshold: settings.volumeThreshold,
      rollingCountTimeout: settings.rollingWindowMs,
      resetTimeout: settings.resetTimeoutMs,
      errorFilter: (error: unknown) => isRequestCaused(error) || error instanceof OverCapacity,
    });
    this.breaker.on("open", () => onStateChange("open"));
    this.breaker.on("halfOpen", () => onStateChange("half_open"));
    this.breaker.on("close", () => onStateChange("closed"));
  }

  /** True while calls are refused outright: open, or half-open with its one probe already sent. */
  get refusing(): boolean {
    return !this.breaker.closed && !this.breaker.pendingClose;
  }

  /** Runs `call` under the breaker; an open breaker throws breakerOpen() without calling it. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return (await this.breaker.fire(call)) as T;
    } catch (error) {
      if ((error as { code?: string }).code === "EOPENBREAKER") throw breakerOpen(this.model);
      throw error;
    }
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}
