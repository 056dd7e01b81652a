import { credentials, Metadata, status, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import {
  GRPCInferenceServiceClient,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataResponse,
} from "../gen/triton/grpc_service.js";
import type { ModelConfig } from "../gen/triton/model_config.js";
import { GatewayError } from "../api/errors.js";

/** One input tensor in KServe-v2 form; `data` is the little-endian raw content (raw_input_contents). */
export interface InputTensor {
  name: string;
  datatype: "INT64";
  shape: number[];
  data: Buffer;
}

export interface CallBounds {
  /** Absolute deadline for the call. */
  deadline: Date;
  /** Aborting cancels the in-flight gRPC call. */
  signal?: AbortSignal;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => { cancel(): void };

/**
 * A thin, typed client for Triton's KServe-v2 `inference.GRPCInferenceService`. Failures surface as
 * GatewayErrors that name the endpoint, so a client of the gateway learns which backend is at fault.
 */
export class TritonClient {
  private readonly client: GRPCInferenceServiceClient;

  constructor(
    readonly url: string,
    maxMessageBytes: number,
  ) {
    this.client = new GRPCInferenceServiceClient(url, credentials.createInsecure(), {
      "grpc.max_receive_message_length": maxMessageBytes,
      "grpc.max_send_message_length": -1,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      // Reconnect quickly after Triton restarts instead of waiting for grpc-js's long default backoff.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
      // With a headless Kubernetes Service (dns:///triton-headless:8001) calls spread over every Triton replica
      // instead of sticking to the one HTTP/2 connection a plain ClusterIP would give.
      "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    });
  }

  async serverReady(bounds: CallBounds): Promise<boolean> {
    const response = await this.call(this.client.serverReady, {}, bounds, "ServerReady");
    return response.ready;
  }

  async modelReady(model: string, bounds: CallBounds): Promise<boolean> {
    const response = await this.call(this.client.modelReady, { name: model, version: "" }, bounds, `ModelReady(${model})`);
    return response.ready;
  }

  modelMetadata(model: string, bounds: CallBounds): Promise<ModelMetadataResponse> {
    return this.call(this.client.modelMetadata, { name: model, version: "" }, bounds, `ModelMetadata(${model})`);
  }

  async modelConfig(model: string, bounds: CallBounds): Promise<ModelConfig> {
    const response = await this.call(this.client.modelConfig, { name: model, version: "" }, bounds, `ModelConfig(${model})`);
    if (!response.config) throw new GatewayError(status.INTERNAL, `Triton at ${this.url} returned no config for ${model}`);
    return response.config;
  }

  /** Runs one batch; returns the FP32 output `output` as a flat array (row-major). */
  async infer(model: string, inputs: InputTensor[], output: string, bounds: CallBounds): Promise<Float32Array> {
    const request: ModelInferRequest = {
      modelName: model,
      modelVersion: "",
      id: "",
      // Triton drops a request still queued when its remaining time is up (where the model's queue policy allows).
      parameters: { timeout: { int64Param: Math.max(1, (bounds.deadline.getTime() - Date.now()) * 1000) } },
      inputs: inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape, parameters: {}, contents: undefined })),
      outputs: [{ name: output, parameters: {} }],
      rawInputContents: inputs.map((input) => input.data),
    };
    const response: ModelInferResponse = await this.call(this.client.modelInfer, request, bounds, `ModelInfer(${model})`);
    const index = response.outputs.findIndex((tensor) => tensor.name === output);
    const raw = response.rawOutputContents[index];
    if (index < 0 || raw === undefined || response.outputs[index]?.datatype !== "FP32") {
      throw new GatewayError(status.INTERNAL, `Triton at ${this.url}: ${model} returned no FP32 output "${output}"`);
    }
    // Copy into an aligned buffer: gRPC slices need not be 4-byte aligned.
    const values = new Float32Array(raw.length / 4);
    Buffer.from(values.buffer).set(raw);
    return values;
  }

  close(): void {
    this.client.close();
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, bounds: CallBounds, what: string): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (bounds.signal?.aborted) {
        reject(new GatewayError(status.CANCELLED, `${what} cancelled before it was sent`));
        return;
      }
      const onAbort = () => call.cancel();
      const call = method.call(this.client, request, new Metadata(), { deadline: bounds.deadline }, (error, response) => {
        bounds.signal?.removeEventListener("abort", onAbort);
        if (error) reject(this.translate(error, what));
        else resolve(response);
      });
      bounds.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private translate(error: ServiceError, what: string): GatewayError {
    const detail = `Triton at ${this.url}: ${what}: ${error.details || error.message}`;
    switch (error.code) {
      case status.DEADLINE_EXCEEDED:
        return new GatewayError(status.DEADLINE_EXCEEDED, detail);
      case status.CANCELLED:
        return new GatewayError(status.CANCELLED, detail);
      case status.UNAVAILABLE:
      case status.NOT_FOUND:
      case status.RESOURCE_EXHAUSTED:
        return new GatewayError(status.UNAVAILABLE, detail);
      default:
        return new GatewayError(status.INTERNAL, detail);
    }
  }
}
