import { status } from "@grpc/grpc-js";
import { GatewayError } from "../api/errors.js";
import { DegradedReason } from "../gen/rerank/v1/rerank.js";
import type { ModelScorer, ScoredPairs } from "../models/scorer.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { PairCapacity } from "./capacity.js";
import { LatencyBudgetExceeded, ModelBreaker, type BreakerState } from "./breaker.js";

export interface RouteRequest {
  /** A served model (validation resolved the default and rejected unknown names). */
  model: string;
  query: string;
  documents: string[];
  truncate: boolean;
  disableFallback: boolean;
  deadline: Date;
  signal: AbortSignal;
}

export interface Routed {
  scorer: ModelScorer;
  scored: ScoredPairs;
  /** Set when a model further down the chain scored the request: why the one asked for did not. */
  degradedReason: DegradedReason;
}

interface GuardedModel {
  scorer: ModelScorer;
  breaker: ModelBreaker;
  capacity: PairCapacity;
}

const REASON_LABEL: Record<number, string> = {
  [DegradedReason.DEGRADED_REASON_BREAKER_OPEN]: "breaker_open",
  [DegradedReason.DEGRADED_REASON_OVER_CAPACITY]: "over_capacity",
  [DegradedReason.DEGRADED_REASON_TIMEOUT]: "timeout",
  [DegradedReason.DEGRADED_REASON_PRIMARY_UNAVAILABLE]: "primary_unavailable",
};
const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** Client-side failures: trying a smaller model would fail the same way, so they end the request. */
const FINAL_CODES = new Set<status>([status.INVALID_ARGUMENT, status.CANCELLED, status.NOT_FOUND, status.DEADLINE_EXCEEDED]);

/**
 * The routing stage: walks the requested model's fallback chain (registry `fallback`, served models only) and
 * lets the first model that can take the request score it. A model is passed over while its breaker is open,
 * while it is at capacity (load shedding before anything fails), or when its call fails or runs past its
 * latency budget with time left on the client's deadline. When no model of the chain can take the request and
 * some are at capacity, it gets RESOURCE_EXHAUSTED at once, with a retry hint, instead of waiting into a timeout.
 */
export class Router {
  private readonly models = new Map<string, GuardedModel>();

  constructor(
    scorers: ReadonlyMap<string, ModelScorer>,
    private readonly metrics: GatewayMetrics,
  ) {
    for (const [name, scorer] of scorers) {
      const breaker = new ModelBreaker(name, scorer.spec.routing, (state) =>
        metrics.breakerState.set({ model: name }, BREAKER_GAUGE[state]),
      );
      metrics.breakerState.set({ model: name }, BREAKER_GAUGE.closed);
      metrics.pairsInFlight.set({ model: name }, 0);
      this.models.set(name, { scorer, breaker, capacity: new PairCapacity(scorer.spec.routing.capacityPairs) });
    }
  }

  /** The model and the served models it falls back to, in order. */
  private chainOf(model: string): string[] {
    const chain: string[] = [];
    for (
      let next: string | null = model;
      next !== null && this.models.has(next);
      next = this.models.get(next)!.scorer.spec.fallback
    ) {
      chain.push(next);
    }
    return chain;
  }

  async score(request: RouteRequest): Promise<Routed> {
    const chain = request.disableFallback ? [request.model] : this.chainOf(request.model);
    let reason = DegradedReason.DEGRADED_REASON_UNSPECIFIED;
    let lastFailure: GatewayError | undefined;
    let overCapacity = false;
    let attempted = false;
    const passOver = (why: DegradedReason, failure: GatewayError) => {
      if (reason === DegradedReason.DEGRADED_REASON_UNSPECIFIED) reason = why;
      lastFailure = failure;
    };

    for (const name of chain) {
      const { scorer, breaker, capacity } = this.models.get(name)!;
      if (breaker.refusing) {
        passOver(
          DegradedReason.DEGRADED_REASON_BREAKER_OPEN,
          new GatewayError(status.UNAVAILABLE, `model ${name}: circuit breaker open`),
        );
        continue;
      }
      const pairs = request.documents.length;
      if (!capacity.tryAcquire(pairs)) {
        overCapacity = true;
        passOver(
          DegradedReason.DEGRADED_REASON_OVER_CAPACITY,
          new GatewayError(status.RESOURCE_EXHAUSTED, `model ${name} is at capacity (${capacity.limit} pairs in flight)`),
        );
        continue;
      }
      attempted = true;
      this.metrics.pairsInFlight.set({ model: name }, capacity.pairsInFlight);
      try {
        const scored = await breaker.run((budgetSignal) =>
          scorer.score({ ...request, signal: AbortSignal.any([request.signal, budgetSignal]) }),
        );
        if (name !== request.model) this.metrics.fallbacks.inc({ from: request.model, to: name, reason: REASON_LABEL[reason] });
        return { scorer, scored, degradedReason: name === request.model ? DegradedReason.DEGRADED_REASON_UNSPECIFIED : reason };
      } catch (error) {
        if (error instanceof LatencyBudgetExceeded) {
          passOver(DegradedReason.DEGRADED_REASON_TIMEOUT, new GatewayError(status.DEADLINE_EXCEEDED, error.message));
        } else if (error instanceof GatewayError && !FINAL_CODES.has(error.code)) {
          passOver(DegradedReason.DEGRADED_REASON_PRIMARY_UNAVAILABLE, error);
        } else {
          throw error;
        }
      } finally {
        capacity.release(pairs);
        this.metrics.pairsInFlight.set({ model: name }, capacity.pairsInFlight);
      }
      if (Date.now() >= request.deadline.getTime()) break;
    }

    // Nothing could even be tried and part of the chain is full: shed load with a retry hint, so clients back
    // off rather than pile on (an all-open chain is UNAVAILABLE instead: waiting will not help soon).
    if (!attempted && overCapacity) {
      // The chain's tightest latency budget is how soon capacity is likely to free up.
      const retryMs = Math.min(...chain.map((name) => this.models.get(name)!.scorer.spec.routing.latencyBudgetMs));
      throw new GatewayError(
        status.RESOURCE_EXHAUSTED,
        `every model of the chain ${chain.join(" -> ")} is at capacity or refusing calls; retry in ${retryMs} ms`,
        { "retry-after-ms": String(retryMs), "grpc-retry-pushback-ms": String(retryMs) },
      );
    }
    throw lastFailure!;
  }

  shutdown(): void {
    for (const { breaker } of this.models.values()) breaker.shutdown();
  }
}
