import { EventEmitter } from "node:events";
import type { ModelSpec } from "../catalog/registry.js";
import { withTimeout } from "../context.js";
import { log } from "../observability/logger.js";
import type { TritonEndpoints } from "./endpoints.js";
import { findMismatches } from "./model-check.js";

interface ReadinessEvents {
  /** A model became ready or stopped being ready (also on its first answer). */
  change: [model: string, ready: boolean];
  /** A round of checks ended; every model's readiness is current. */
  refreshed: [];
  /** Triton serves a model differently from the registry: the deployment is wrong, one line per problem. */
  mismatch: [problems: string[]];
}

const CALL_TIMEOUT_MS = 2_000;

/**
 * Polls Triton for each model's readiness and emits what changed. The first time a model answers, its served
 * tensors are checked against the registry; a mismatch is emitted and the model stays not ready.
 */
export class ModelReadiness extends EventEmitter<ReadinessEvents> {
  private readonly ready = new Map<string, boolean>();
  private readonly verified = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly triton: TritonEndpoints,
    private readonly models: readonly ModelSpec[],
  ) {
    super();
  }

  isReady(model: string): boolean {
    return this.ready.get(model) ?? false;
  }

  /** One round of checks; start() repeats it. Exposed so start-up can wait for the first round. */
  async refresh(): Promise<void> {
    await withTimeout(CALL_TIMEOUT_MS, (context) => this.triton.probe(context));
    await Promise.all(this.models.map((spec) => this.refreshModel(spec)));
    this.emit("refreshed");
  }

  start(intervalMs: number): void {
    const tick = () => {
      this.timer = setTimeout(() => void this.refresh().finally(() => this.timer && tick()), intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async refreshModel(spec: ModelSpec): Promise<void> {
    let ready = false;
    try {
      ready = await withTimeout(CALL_TIMEOUT_MS, async (context) => {
        const modelReady = await this.triton.modelReady(spec.triton.model, context);
        if (!modelReady || this.verified.has(spec.name)) return modelReady;
        const [metadata, config] = await Promise.all([
          this.triton.modelMetadata(spec.triton.model, context),
          this.triton.modelConfig(spec.triton.model, context),
        ]);
        const problems = findMismatches(spec, metadata, config);
        if (problems.length > 0) {
          this.emit("mismatch", problems);
          return false;
        }
        this.verified.add(spec.name);
        return true;
      });
    } catch (error) {
      if (this.ready.get(spec.name) !== false)
        log.warn("model not reachable", { model: spec.name, error: (error as Error).message });
    }
    const previous = this.ready.get(spec.name);
    this.ready.set(spec.name, ready);
    if (previous === ready) return;
    log.info("model readiness changed", { model: spec.name, ready });
    this.emit("change", spec.name, ready);
  }
}
