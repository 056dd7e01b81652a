import { HealthImplementation } from "grpc-health-check";
import type { ModelReadiness } from "../triton/readiness.js";

/** The gRPC health service name of the whole gateway; each model is also a health service, under its own name. */
const GATEWAY_HEALTH_SERVICE = "rerank.v1.RerankService";

/**
 * grpc.health.v1 mirroring model readiness: each model under its own name, and the gateway ("" and
 * rerank.v1.RerankService) SERVING while its default model is ready and it is not draining.
 */
export class GatewayHealth {
  readonly service = new HealthImplementation({ "": "NOT_SERVING", [GATEWAY_HEALTH_SERVICE]: "NOT_SERVING" });
  private drainStarted = false;

  constructor(
    private readonly readiness: ModelReadiness,
    private readonly defaultModel: string,
  ) {
    readiness.on("change", (model, ready) => this.service.setStatus(model, ready ? "SERVING" : "NOT_SERVING"));
    readiness.on("refreshed", () => this.update());
  }

  /** From now on the gateway reports NOT_SERVING, so that load balancers stop sending it calls. */
  drain(): void {
    this.drainStarted = true;
    this.update();
  }

  /** True once drain() was called: every API's health answers "not serving" from then on. */
  get draining(): boolean {
    return this.drainStarted;
  }

  private update(): void {
    const overall = !this.drainStarted && this.readiness.isReady(this.defaultModel) ? "SERVING" : "NOT_SERVING";
    this.service.setStatus("", overall);
    this.service.setStatus(GATEWAY_HEALTH_SERVICE, overall);
  }
}
