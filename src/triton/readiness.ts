import type { HealthImplementation } from "grpc-health-check";
import { log } from "../observability/logger.js";
import type { ModelSpec, Registry } from "../models/registry.js";
import type { TritonEndpoints } from "./endpoints.js";
import { findMismatches } from "./model-check.js";

/** The gRPC health service name of the whole gateway; each model is also a health service, under its own name. */
export const GATEWAY_HEALTH_SERVICE = "rerank.v1.RerankService";

/**
 * Polls Triton for each model's readiness and mirrors it into the gRPC health service. The first time a model
 * answers, its served tensors are checked against the registry; a mismatch is fatal (onMismatch).
 */
export class ModelReadiness {
  private readonly ready = new Map<string, boolean>();
  private readonly verified = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly triton: TritonEndpoints,
    private readonly registry: Registry,
    private readonly health: HealthImplementation,
    private readonly onMismatch: (problems: string[]) => void,
  ) {}

  isReady(model: string): boolean {
    return this.ready.get(model) ?? false;
  }

  /** One round of checks; start() repeats it. Exposed so start-up can wait for the first round. */
  async refresh(): Promise<void> {
    await this.triton.probe({ deadline: new Date(Date.now() + 2_000) });
    await Promise.all([...this.registry.models.values()].map((spec) => this.refreshModel(spec)));
    const overall = this.isReady(this.registry.defaultModel) ? "SERVING" : "NOT_SERVING";
    this.health.setStatus("", overall);
    this.health.setStatus(GATEWAY_HEALTH_SERVICE, overall);
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
    const bounds = { deadline: new Date(Date.now() + 2_000) };
    let ready = false;
    try {
      ready = await this.triton.modelReady(spec.triton.model, bounds);
      if (ready && !this.verified.has(spec.name)) {
        const [metadata, config] = await Promise.all([
          this.triton.modelMetadata(spec.triton.model, bounds),
          this.triton.modelConfig(spec.triton.model, bounds),
        ]);
        const problems = findMismatches(spec, metadata, config);
        if (problems.length > 0) {
          this.onMismatch(problems);
          ready = false;
        } else {
          this.verified.add(spec.name);
        }
      }
    } catch (error) {
      ready = false;
      if (this.ready.get(spec.name) !== false)
        log.warn("model not reachable", { model: spec.name, error: (error as Error).message });
    }
    if (this.ready.get(spec.name) !== ready) log.info("model readiness changed", { model: spec.name, ready });
    this.ready.set(spec.name, ready);
    this.health.setStatus(spec.name, ready ? "SERVING" : "NOT_SERVING");
  }
}
