import type { RequestContext } from "../context.js";
import { GatewayError, isRequestCaused } from "../errors.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { inSpan, type Span } from "../observability/tracing.js";
import {
  CallOverBudget,
  type ModelPipeline,
  type RowAdmission,
  type ScoreRequest,
  type ScoredDocuments,
} from "../pipeline/scorer.js";
import { breakerOpen, ModelBreaker, type BreakerState } from "./breaker.js";
import { WorkBudget } from "./call-budget.js";
import { OverCapacity, PairCapacity } from "./capacity.js";

/** Why a model further down the chain scored a request instead of the one asked for. */
export type DegradedReason = "breaker_open" | "over_capacity" | "timeout" | "primary_unavailable";

export interface RouteRequest extends ScoreRequest {
  /** A served model (validation resolved the default and rejected unknown names). */
  model: string;
  disableFallback: boolean;
}

export interface Routed {
  /** The model that scored the request. */
  model: string;
  scored: ScoredDocuments;
  /** Set when a model further down the chain scored the request: why the one asked for did not. */
  degradedReason?: DegradedReason;
}

interface GuardedModel {
  pipeline: ModelPipeline;
  breaker: ModelBreaker;
  capacity: PairCapacity;
  budget: WorkBudget;
}

const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * The routing stage: walks the requested model's fallback chain (registry `fallback`, served models only) and
 * lets the first model that can take the request score it. A model is passed over while its breaker is open,
 * while it is at capacity (load shedding before anything fails; a split request's windows count once tokenized), or when its call fails or a Triton call runs past
 * the budget its work allows (WorkBudget) with time left on the client's deadline. When no model of the chain can take the request and
 * some are at capacity, it gets "overloaded" at once, with a retry hint, instead of waiting into a timeout.
 */
export class Router {
  private readonly models = new Map<string, GuardedModel>();

  constructor(
    pipelines: ReadonlyMap<string, ModelPipeline>,
    private readonly metrics: GatewayMetrics,
  ) {
    for (const [name, pipeline] of pipelines) {
      const breaker = new ModelBreaker(name, pipeline.spec.routing, (state) =>
        metrics.breakerState.set({ model: name }, BREAKER_GAUGE[state]),
      );
      metrics.breakerState.set({ model: name }, BREAKER_GAUGE.closed);
      metrics.pairsInFlight.set({ model: name }, 0);
      const { routing } = pipeline.spec;
      this.models.set(name, {
        pipeline,
        breaker,
        capacity: new PairCapacity(routing.capacityPairs),
        budget: new WorkBudget(routing),
      });
    }
  }

  /** The model and the served models it falls back to, in order. */
  private chainOf(model: string): string[] {
    const chain: string[] = [];
    for (
      let next: string | null = model;
      next !== null && this.models.has(next);
      next = this.models.get(next)!.pipeline.spec.fallback
    ) {
      chain.push(next);
    }
    return chain;
  }

  async score(request: RouteRequest, context: RequestContext): Promise<Routed> {
    const chain = request.disableFallback ? [request.model] : this.chainOf(request.model);
    let reason: DegradedReason | undefined;
    let lastFailure: GatewayError | undefined;
    let overCapacity = false;
    let attempted = false;
    const passOver = (attempt: Span, why: DegradedReason, failure: GatewayError): undefined => {
      reason ??= why;
      lastFailure = failure;
      attempt.setAttribute("route.outcome", why);
    };

    /** One model of the chain: its answer, or undefined when it was passed over (passOver says why). */
    const tryModel = async (name: string, attemptContext: RequestContext, attempt: Span): Promise<Routed | undefined> => {
      const { pipeline, breaker, capacity, budget } = this.models.get(name)!;
      if (breaker.refusing) return passOver(attempt, "breaker_open", breakerOpen(name));
      // A pair per document; a split request's windows are taken on as more pairs before any is sent.
      let held = request.documents.length;
      if (!capacity.tryAcquire(held)) {
        overCapacity = true;
        return passOver(attempt, "over_capacity", new OverCapacity(name, capacity.limit));
      }
      const attemptedBefore: boolean = attempted;
      attempted = true;
      this.metrics.pairsInFlight.set({ model: name }, capacity.pairsInFlight);
      const admit: RowAdmission = (rows) => {
        if (rows <= held) return;
        if (!capacity.tryAcquire(rows - held, held)) throw new OverCapacity(name, capacity.limit);
        held = rows;
        this.metrics.pairsInFlight.set({ model: name }, capacity.pairsInFlight);
      };
      try {
        // A failed attempt has already cancelled its own Triton calls (the pipeline aborts sibling batches).
        const scored = await breaker.run(() => pipeline.score(request, attemptContext, budget, admit));
        attempt.setAttribute("route.outcome", "scored");
        if (name === request.model) return { model: name, scored };
        this.metrics.fallbacks.inc({ from: request.model, to: name, reason: reason! });
        return { model: name, scored, degradedReason: reason };
      } catch (error) {
        if (error instanceof OverCapacity) {
          // Its windows did not fit: nothing was sent, as if the model had been full from the start.
          attempted = attemptedBefore;
          overCapacity = true;
          passOver(attempt, "over_capacity", error);
        } else if (error instanceof CallOverBudget) {
          passOver(attempt, "timeout", new GatewayError("timeout", error.message));
        } else if (error instanceof GatewayError && !isRequestCaused(error)) {
          passOver(attempt, "primary_unavailable", error);
        } else {
          throw error;
        }
      } finally {
        capacity.release(held);
        this.metrics.pairsInFlight.set({ model: name }, capacity.pairsInFlight);
      }
      if (Date.now() >= context.deadline) {
        throw new GatewayError("timeout", `the request's deadline passed after model ${name} failed: ${lastFailure?.message}`);
      }
      return undefined;
    };

    for (const name of chain) {
      // A model tried after another was passed over is a fallback: its span says why.
      const attributes = { "route.model": name, ...(reason && { "route.fallback_reason": reason }) };
      const routed = await inSpan("route.attempt", context, attributes, (attemptContext, attempt) =>
        tryModel(name, attemptContext, attempt),
      );
      if (routed) return routed;
    }

    // Nothing could even be tried and part of the chain is full: shed load with a retry hint, so clients back
    // off rather than pile on (an all-open chain is "unavailable" instead: waiting will not help soon).
    if (!attempted && overCapacity) {
      // The chain's tightest latency budget is how soon capacity is likely to free up.
      const retryMs = Math.min(...chain.map((name) => this.models.get(name)!.pipeline.spec.routing.latencyBudgetMs));
      throw new GatewayError(
        "overloaded",
        `every model of the chain ${chain.join(" -> ")} is at capacity or refusing calls; retry in ${retryMs} ms`,
        retryMs,
      );
    }
    throw lastFailure!;
  }

  shutdown(): void {
    for (const { breaker } of this.models.values()) breaker.shutdown();
  }
}
