import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { propagation, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  GRPCInferenceServiceService,
  ModelInferResponse,
  type GRPCInferenceServiceServer,
  type ModelInferRequest,
} from "../../src/gen/triton/grpc_service.js";
import { failureOf, TritonClient, TritonError, type InputTensor, type TritonFailure } from "../../src/triton/client.js";
import { contextFor, rejectionOf, staticContext } from "./fakes.js";

type InferCall = ServerUnaryCall<ModelInferRequest, ModelInferResponse>;
type InferHandler = (call: InferCall, callback: sendUnaryData<ModelInferResponse>) => void;

/** An in-process Triton on loopback: ModelInfer does what the test's handler says and records every call. */
const triton = {
  server: new Server(),
  url: "",
  calls: [] as InferCall[],
  handler: (() => {}) as InferHandler,
};
let client: TritonClient;

beforeAll(async () => {
  const implementation: Partial<GRPCInferenceServiceServer> = {
    modelInfer: (call, callback) => {
      triton.calls.push(call);
      triton.handler(call, callback);
    },
    serverReady: (_call, callback) => callback(null, { ready: true }),
    modelConfig: (_call, callback) => callback(null, { config: undefined }),
  };
  triton.server.addService(GRPCInferenceServiceService, implementation as GRPCInferenceServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    triton.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  triton.url = `127.0.0.1:${port}`;
  client = new TritonClient(triton.url, 16 << 20);
});

afterAll(() => {
  client.close();
  triton.server.forceShutdown();
});

beforeEach(() => {
  triton.calls.length = 0;
});

const INPUT: InputTensor = {
  name: "input_ids",
  datatype: "INT64",
  shape: [2, 3],
  data: Buffer.from(BigInt64Array.of(101n, 7n, 102n, 101n, 9n, 102n).buffer),
};

/** A ModelInfer answer with one output tensor of `values`. */
function answerWith(output: { name: string; datatype: string }, values = Float32Array.of(0.5, -1.25)): InferHandler {
  return (_call, callback) =>
    callback(
      null,
      ModelInferResponse.fromPartial({
        modelName: "m",
        outputs: [{ ...output, shape: [values.length, 1] }],
        rawOutputContents: [Buffer.from(values.buffer)],
      }),
    );
}

const infer = (context = contextFor().context) => client.infer("m", [INPUT], "logits", context);
const inferFailure = (context = contextFor().context) => rejectionOf<TritonError>(infer(context));

describe("TritonClient.infer against a loopback Triton", () => {
  it("sends the tensors as raw contents with Triton's timeout and the deadline, and returns the FP32 output", async () => {
    triton.handler = answerWith({ name: "logits", datatype: "FP32" });
    const deadline = Date.now() + 60_000;
    expect(await infer(staticContext(deadline))).toEqual(Float32Array.of(0.5, -1.25));

    const call = triton.calls[0]!;
    expect(call.request).toMatchObject({
      modelName: "m",
      inputs: [{ name: "input_ids", datatype: "INT64", shape: [2, 3] }],
      outputs: [{ name: "logits" }],
      rawInputContents: [INPUT.data],
    });
    // Triton's `timeout` is in microseconds: the time left until the deadline.
    const timeoutUs = call.request.parameters.timeout?.int64Param ?? 0;
    expect(timeoutUs).toBeGreaterThan(50_000_000);
    expect(timeoutUs).toBeLessThanOrEqual(60_000_000);
    const serverDeadline = Number(call.getDeadline());
    expect(Math.abs(serverDeadline - deadline)).toBeLessThan(5_000);
  });

  it("forwards the request's trace to Triton as a W3C traceparent in ModelInfer's metadata", async () => {
    triton.handler = answerWith({ name: "logits", datatype: "FP32" });
    const [traceId, spanId] = ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"];
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED });
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      await infer({ ...contextFor().context, trace: parent });
      // Without an SDK the triton.infer span is the parent's non-recording stand-in, so it keeps the parent's ids.
      expect(triton.calls[0]!.metadata.get("traceparent")).toEqual([`00-${traceId}-${spanId}-01`]);
      await infer();
      expect(triton.calls[1]!.metadata.get("traceparent")).toEqual([]);
    } finally {
      propagation.disable();
    }
  });

  it.each([
    ["missing", { name: "scores", datatype: "FP32" }],
    ["not FP32", { name: "logits", datatype: "FP16" }],
  ])("fails 'model_failed', naming the endpoint, when the output is %s", async (_, output) => {
    triton.handler = answerWith(output);
    const error = await inferFailure();
    expect(error).toBeInstanceOf(TritonError);
    expect(error).toMatchObject({ failure: "model_failed", endpoint: triton.url });
    expect(error.message).toBe(`Triton at ${triton.url}: m returned no FP32 output "logits"`);
  });

  it.each([
    [status.UNAVAILABLE, "unreachable"],
    [status.RESOURCE_EXHAUSTED, "unreachable"],
    [status.NOT_FOUND, "model_not_ready"],
    [status.INTERNAL, "model_failed"],
    [status.INVALID_ARGUMENT, "model_failed"],
  ] as [status, TritonFailure][])("maps a server's status %i to '%s', keeping Triton's message", async (code, failure) => {
    triton.handler = (_call, callback) => callback({ code, details: "onnxruntime said no" });
    const error = await inferFailure();
    expect(error).toMatchObject({ failure, endpoint: triton.url });
    expect(error.message).toBe(`Triton at ${triton.url}: ModelInfer(m): onnxruntime said no`);
  });

  it("cancels the call when the context's signal aborts: the server sees it cancelled", async () => {
    let serverCancelled!: Promise<void>;
    const received = new Promise<void>((resolve) => {
      triton.handler = (call) => {
        serverCancelled = new Promise((cancelled) => call.on("cancelled", () => cancelled()));
        resolve();
      };
    });
    const scope = contextFor();
    const pending = inferFailure(scope.context);
    await received;
    scope.cancel();
    expect(await pending).toMatchObject({ failure: "cancelled", endpoint: triton.url });
    await serverCancelled;
  });

  it("does not send a call whose context is already aborted", async () => {
    const scope = contextFor();
    scope.cancel();
    expect(await inferFailure(scope.context)).toMatchObject({ failure: "cancelled" });
    expect(triton.calls).toHaveLength(0);
  });

  it("gives up at the deadline it carries, as 'deadline', even if nothing aborts the signal", async () => {
    triton.handler = () => {};
    expect(await inferFailure(staticContext(Date.now() + 300))).toMatchObject({ failure: "deadline" });
    expect(triton.calls).toHaveLength(1);
  });
});

describe("TritonClient's other calls", () => {
  it("answers ServerReady, and fails 'model_failed' on a ModelConfig without a config", async () => {
    expect(await client.serverReady(contextFor().context)).toBe(true);
    await expect(client.modelConfig("m", contextFor().context)).rejects.toMatchObject({
      failure: "model_failed",
      message: `Triton at ${triton.url} returned no config for m`,
    });
  });
});

describe("failureOf", () => {
  const EXPECTED: Partial<Record<status, TritonFailure>> = {
    [status.DEADLINE_EXCEEDED]: "deadline",
    [status.CANCELLED]: "cancelled",
    [status.UNAVAILABLE]: "unreachable",
    [status.RESOURCE_EXHAUSTED]: "unreachable",
    [status.NOT_FOUND]: "model_not_ready",
  };
  const codes = Object.values(status).filter((code): code is status => typeof code === "number" && code !== status.OK);

  it.each(codes)("maps gRPC status %i", (code) => {
    expect(failureOf(code)).toBe(EXPECTED[code] ?? "model_failed");
  });
});
