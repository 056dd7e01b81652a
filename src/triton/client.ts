import { credentials, Metadata, status, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import {
  GRPCInferenceServiceClient,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataResponse,
} from "../gen/triton/grpc_service.js";
import type { ModelConfig } from "../gen/triton/model_config.js";
import { remainingMs, type RequestContext } from "../context.js";
import { inSpan, injectTrace, SpanKind } from "../observability/tracing.js";

/** One input tensor in KServe-v2 form; `data` is the little-endian raw content (raw_input_contents). */
export interface InputTensor {
  name: string;
  datatype: "INT64";
  shape: number[];
  data: Buffer;
}

/**
 * Why a Triton call failed, in Triton's terms; the pipeline decides what that means for the request.
 * - unreachable: the endpoint did not answer (down, restarting, refused) or shed the call: another replica may
 *   take it, so the endpoint set fails over;
 * - model_not_ready: the endpoint answered but does not serve the model now (not loaded, unknown);
 * - deadline / cancelled: the call's deadline passed, or the caller cancelled it;
 * - model_failed: the model failed inside Triton (its message says how), or answered without the expected output.
 */
export type TritonFailure = "unreachable" | "model_not_ready" | "deadline" | "cancelled" | "model_failed";

export class TritonError extends Error {
  override readonly name = "TritonError";

  constructor(
    readonly failure: TritonFailure,
    /** The endpoint that failed, so that an operator learns which replica is at fault. */
    readonly endpoint: string,
    message: string,
  ) {
    super(message);
  }
}

/** Failures another replica might not have: the endpoint set retries them elsewhere. */
export function isEndpointFailure(error: unknown): boolean {
  return error instanceof TritonError && (error.failure === "unreachable" || error.failure === "model_not_ready");
}

/** TLS to Triton (its gRPC SSL options): the CA its certificate chains to, and a client certificate for mutual TLS. */
export interface TritonTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => { cancel(): void };

/**
 * A thin, typed client for Triton's KServe-v2 `inference.GRPCInferenceService`. Every call is bounded by the
 * request's context (its deadline, and its signal cancels the call); failures surface as TritonErrors.
 */
export class TritonClient {
  private readonly client: GRPCInferenceServiceClient;

  constructor(
    readonly url: string,
    maxMessageBytes: number,
    /** Absent: plaintext. */
    tls?: TritonTls,
  ) {
    const channelCredentials = tls
      ? credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null)
      : credentials.createInsecure();
    this.client = new GRPCInferenceServiceClient(url, channelCredentials, {
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

  async serverReady(context: RequestContext): Promise<boolean> {
    const response = await this.call(this.client.serverReady, {}, context, "ServerReady");
    return response.ready;
  }

  async modelReady(model: string, context: RequestContext): Promise<boolean> {
    const response = await this.call(this.client.modelReady, { name: model, version: "" }, context, `ModelReady(${model})`);
    return response.ready;
  }

  modelMetadata(model: string, context: RequestContext): Promise<ModelMetadataResponse> {
    return this.call(this.client.modelMetadata, { name: model, version: "" }, context, `ModelMetadata(${model})`);
  }

  async modelConfig(model: string, context: RequestContext): Promise<ModelConfig> {
    const response = await this.call(this.client.modelConfig, { name: model, version: "" }, context, `ModelConfig(${model})`);
    if (!response.config)
      throw new TritonError("model_failed", this.url, `Triton at ${this.url} returned no config for ${model}`);
    return response.config;
  }

  /** Runs one batch; returns the FP32 output `output` as a flat array (row-major). */
  infer(model: string, inputs: InputTensor[], output: string, context: RequestContext): Promise<Float32Array> {
    const [rows = 0, columns = 0] = inputs[0]?.shape ?? [];
    const attributes = {
      "triton.model": model,
      "triton.rows": rows,
      "triton.cells": rows * columns,
      "triton.endpoint": this.url,
    };
    return inSpan(
      "triton.infer",
      context,
      attributes,
      (spanContext) => this.runInfer(model, inputs, output, spanContext),
      SpanKind.CLIENT,
    );
  }

  private async runInfer(model: string, inputs: InputTensor[], output: string, context: RequestContext): Promise<Float32Array> {
    const request: ModelInferRequest = {
      modelName: model,
      modelVersion: "",
      id: "",
      // Triton drops a request still queued when its remaining time is up (where the model's queue policy allows).
      parameters: { timeout: { int64Param: Math.max(1, remainingMs(context) * 1000) } },
      inputs: inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape, parameters: {}, contents: undefined })),
      outputs: [{ name: output, parameters: {} }],
      rawInputContents: inputs.map((input) => input.data),
    };
    const response: ModelInferResponse = await this.call(this.client.modelInfer, request, context, `ModelInfer(${model})`);
    const index = response.outputs.findIndex((tensor) => tensor.name === output);
    const raw = response.rawOutputContents[index];
    if (index < 0 || raw === undefined || response.outputs[index]?.datatype !== "FP32") {
      throw new TritonError("model_failed", this.url, `Triton at ${this.url}: ${model} returned no FP32 output "${output}"`);
    }
    // Copy into an aligned buffer: gRPC slices need not be 4-byte aligned.
    const values = new Float32Array(raw.length / 4);
    Buffer.from(values.buffer).set(raw);
    return values;
  }

  close(): void {
    this.client.close();
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, context: RequestContext, what: string): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const { signal } = context;
      if (signal.aborted) {
        reject(new TritonError("cancelled", this.url, `${what} cancelled before it was sent`));
        return;
      }
      const onAbort = () => call.cancel();
      // The request's W3C traceparent, so that Triton's own trace (when it traces) joins the gateway's.
      const metadata = new Metadata();
      for (const [key, value] of Object.entries(injectTrace(context, {}))) metadata.set(key, value);
      const call = method.call(this.client, request, metadata, { deadline: context.deadline }, (error, response) => {
        signal.removeEventListener("abort", onAbort);
        if (error) reject(this.translate(error, what));
        else resolve(response);
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private translate(error: ServiceError, what: string): TritonError {
    return new TritonError(failureOf(error.code), this.url, `Triton at ${this.url}: ${what}: ${error.details || error.message}`);
  }
}

/** Triton's gRPC status codes in Triton's terms (what each means is in TritonFailure). */
export function failureOf(code: status): TritonFailure {
  switch (code) {
    case status.DEADLINE_EXCEEDED:
      return "deadline";
    case status.CANCELLED:
      return "cancelled";
    case status.UNAVAILABLE:
    case status.RESOURCE_EXHAUSTED:
      return "unreachable";
    case status.NOT_FOUND:
      return "model_not_ready";
    default:
      return "model_failed";
  }
}
