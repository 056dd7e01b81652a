import type { RequestContext } from "../context.js";
import type { ModelMetadataResponse } from "../gen/triton/grpc_service.js";
import type { ModelConfig } from "../gen/triton/model_config.js";
import { log } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { isEndpointFailure, type InputTensor, type TritonClient } from "./client.js";

/** What the pipeline needs of Triton: run one batch of a model (TritonEndpoints; fakes in unit tests). */
export interface InferenceBackend {
  infer(model: string, inputs: InputTensor[], output: string, context: RequestContext): Promise<Float32Array>;
}

/** One Triton server as the endpoint set uses it: TritonClient, or a fake in unit tests. */
export type TritonConnection = Pick<
  TritonClient,
  "url" | "serverReady" | "modelReady" | "modelMetadata" | "modelConfig" | "infer" | "close"
>;

interface Endpoint {
  client: TritonConnection;
  /** Epoch ms until which the endpoint gets no traffic (0: healthy). */
  ejectedUntil: number;
}

/**
 * Several Triton replicas serving the same models (TRITON_GRPC_URL=host1:8001,host2:8001). Batches go round
 * robin to the healthy ones; an endpoint that is unreachable or lacks the model is ejected for `ejectMs` and the batch is
 * retried on the next endpoint while the request has time left, so losing a replica loses no request.
 * probe() (run by the readiness loop) brings ejected endpoints back once they answer ServerReady.
 * One endpoint is the same as a plain client. In Kubernetes one dns:/// name can also stand for all replicas.
 */
export class TritonEndpoints implements InferenceBackend {
  private readonly endpoints: Endpoint[];
  private next = 0;

  constructor(
    clients: readonly TritonConnection[],
    private readonly metrics: GatewayMetrics,
    private readonly ejectMs = 5_000,
  ) {
    this.endpoints = clients.map((client) => ({ client, ejectedUntil: 0 }));
    for (const client of clients) metrics.endpointUp.set({ endpoint: client.url }, 1);
  }

  infer(model: string, inputs: InputTensor[], output: string, context: RequestContext): Promise<Float32Array> {
    return this.withFailover((client) => client.infer(model, inputs, output, context), context);
  }

  /** Ready when any endpoint has the model ready. */
  async modelReady(model: string, context: RequestContext): Promise<boolean> {
    const answers = await Promise.allSettled(this.endpoints.map(({ client }) => client.modelReady(model, context)));
    if (answers.every((answer) => answer.status === "rejected")) throw (answers[0] as PromiseRejectedResult).reason;
    return answers.some((answer) => answer.status === "fulfilled" && answer.value);
  }

  modelMetadata(model: string, context: RequestContext): Promise<ModelMetadataResponse> {
    return this.withFailover((client) => client.modelMetadata(model, context), context);
  }

  modelConfig(model: string, context: RequestContext): Promise<ModelConfig> {
    return this.withFailover((client) => client.modelConfig(model, context), context);
  }

  /** Re-admits ejected endpoints that answer ServerReady again. */
  async probe(context: RequestContext): Promise<void> {
    await Promise.all(
      this.endpoints
        .filter((endpoint) => endpoint.ejectedUntil > 0)
        .map(async (endpoint) => {
          if (await endpoint.client.serverReady(context).catch(() => false)) this.readmit(endpoint);
        }),
    );
  }

  close(): void {
    for (const { client } of this.endpoints) client.close();
  }

  /**
   * The usable endpoints (healthy, or ejected with their time up) in round-robin order. The rotation runs over the
   * usable ones only, so that an ejected endpoint's share spreads evenly instead of all landing on its neighbour.
   */
  private candidates(): Endpoint[] {
    const now = Date.now();
    const usable = this.endpoints.filter((endpoint) => endpoint.ejectedUntil <= now);
    // With every endpoint ejected, still try them: an error that names the endpoint beats a guess.
    const pool = usable.length > 0 ? usable : this.endpoints;
    const start = this.next++ % pool.length;
    return [...pool.slice(start), ...pool.slice(0, start)];
  }

  private async withFailover<T>(call: (client: TritonConnection) => Promise<T>, context: RequestContext): Promise<T> {
    let failure: unknown;
    for (const endpoint of this.candidates()) {
      if (failure !== undefined && (Date.now() >= context.deadline || context.signal.aborted)) break;
      try {
        const result = await call(endpoint.client);
        this.readmit(endpoint);
        return result;
      } catch (error) {
        failure = error;
        if (!isEndpointFailure(error)) throw error;
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
