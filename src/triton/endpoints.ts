import { status } from "@grpc/grpc-js";
import type { ModelMetadataResponse } from "../gen/triton/grpc_service.js";
import type { ModelConfig } from "../gen/triton/model_config.js";
import { GatewayError } from "../api/errors.js";
import { log } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { TritonClient, type CallBounds, type InputTensor } from "./client.js";

interface Endpoint {
  client: TritonClient;
  /** Epoch ms until which the endpoint gets no traffic (0: healthy). */
  ejectedUntil: number;
}

/**
 * Several Triton replicas serving the same models (TRITON_GRPC_URL=host1:8001,host2:8001). Batches go round
 * robin to the healthy ones; an endpoint that answers UNAVAILABLE is ejected for `ejectMs` and the batch is
 * retried on the next endpoint while the request has time left, so losing a replica loses no request.
 * probe() (run by the readiness loop) brings ejected endpoints back once they answer ServerReady.
 * One endpoint is the same as a plain client. In Kubernetes one dns:/// name can also stand for all replicas.
 */
export class TritonEndpoints {
  private readonly endpoints: Endpoint[];
  private next = 0;

  constructor(
    urls: string[],
    maxMessageBytes: number,
    private readonly metrics: GatewayMetrics,
    private readonly ejectMs = 5_000,
  ) {
    this.endpoints = urls.map((url) => ({ client: new TritonClient(url, maxMessageBytes), ejectedUntil: 0 }));
    for (const url of urls) metrics.endpointUp.set({ endpoint: url }, 1);
  }

  get urls(): string[] {
    return this.endpoints.map((endpoint) => endpoint.client.url);
  }

  infer(model: string, inputs: InputTensor[], output: string, bounds: CallBounds): Promise<Float32Array> {
    return this.withFailover((client) => client.infer(model, inputs, output, bounds), bounds);
  }

  /** Ready when any endpoint has the model ready. */
  async modelReady(model: string, bounds: CallBounds): Promise<boolean> {
    const answers = await Promise.allSettled(this.endpoints.map(({ client }) => client.modelReady(model, bounds)));
    if (answers.every((answer) => answer.status === "rejected")) throw (answers[0] as PromiseRejectedResult).reason;
    return answers.some((answer) => answer.status === "fulfilled" && answer.value);
  }

  modelMetadata(model: string, bounds: CallBounds): Promise<ModelMetadataResponse> {
    return this.withFailover((client) => client.modelMetadata(model, bounds), bounds);
  }

  modelConfig(model: string, bounds: CallBounds): Promise<ModelConfig> {
    return this.withFailover((client) => client.modelConfig(model, bounds), bounds);
  }

  /** Re-admits ejected endpoints that answer ServerReady again. */
  async probe(bounds: CallBounds): Promise<void> {
    await Promise.all(
      this.endpoints
        .filter((endpoint) => endpoint.ejectedUntil > 0)
        .map(async (endpoint) => {
          if (await endpoint.client.serverReady(bounds).catch(() => false)) this.readmit(endpoint);
        }),
    );
  }

  close(): void {
    for (const { client } of this.endpoints) client.close();
  }

  /** Healthy endpoints in round-robin order, then ejected ones whose time is up. */
  private candidates(): Endpoint[] {
    const now = Date.now();
    const start = this.next++ % this.endpoints.length;
    const rotated = [...this.endpoints.slice(start), ...this.endpoints.slice(0, start)];
    const usable = rotated.filter((endpoint) => endpoint.ejectedUntil <= now);
    // With every endpoint ejected, still try them: an error that names the endpoint beats a guess.
    return usable.length > 0 ? usable : rotated;
  }

  private async withFailover<T>(call: (client: TritonClient) => Promise<T>, bounds: CallBounds): Promise<T> {
    let failure: unknown;
    for (const endpoint of this.candidates()) {
      if (failure !== undefined && (Date.now() >= bounds.deadline.getTime() || bounds.signal?.aborted)) break;
      try {
        const result = await call(endpoint.client);
        this.readmit(endpoint);
        return result;
      } catch (error) {
        failure = error;
        if (!(error instanceof GatewayError && error.code === status.UNAVAILABLE)) throw error;
        if (this.endpoints.length > 1) this.eject(endpoint);
      }
    }
    throw failure;
  }

  /** Takes the endpoint out of rotation for ejectMs (again, if it already was). */
  private eject(endpoint: Endpoint): void {
    const wasHealthy = endpoint.ejectedUntil === 0;
    endpoint.ejectedUntil = Date.now() + this.ejectMs;
    if (!wasHealthy) return;
    this.metrics.endpointUp.set({ endpoint: endpoint.client.url }, 0);
    log.warn("Triton endpoint ejected", { endpoint: endpoint.client.url });
  }

  private readmit(endpoint: Endpoint): void {
    if (endpoint.ejectedUntil === 0) return;
    endpoint.ejectedUntil = 0;
    this.metrics.endpointUp.set({ endpoint: endpoint.client.url }, 1);
    log.warn("Triton endpoint back in rotation", { endpoint: endpoint.client.url });
  }
}
