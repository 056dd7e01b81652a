/** Runs the built gateway (dist/) as a real child process, and a typed gRPC client for it. */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  RerankServiceClient,
  RerankRequest,
  type RerankResponse,
  type ListModelsResponse,
} from "../../src/gen/rerank/v1/rerank.js";
import { inject } from "vitest";
import { freePort } from "./ports.js";

const root = join(import.meta.dirname, "..", "..");

export interface RunningGateway {
  address: string;
  /** http://127.0.0.1:<port>/metrics */
  metricsUrl: string;
  client: RerankServiceClient;
  rerank(request: Partial<RerankRequest>, options?: { deadlineMs?: number }): Promise<RerankResponse>;
  listModels(): Promise<ListModelsResponse>;
  logs(): string;
  stop(): Promise<void>;
}

export async function startGateway(env: Record<string, string>): Promise<RunningGateway> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [join(root, "dist", "src", "main.js")], {
    env: {
      ...process.env,
      RERANK_LISTEN: address,
      RERANK_READINESS_POLL_MS: "500",
      RERANK_METRICS_LISTEN: "127.0.0.1:0",
      RERANK_TOKENIZER_DIR: inject("tokenizerDir"),
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let output = "";
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("rerank-gateway listening")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code} before listening:\n${output}`)));
  });
  await listening;
  const metricsPort = /"metricsPort":(\d+)/.exec(output)?.[1];
  const client = new RerankServiceClient(address, credentials.createInsecure());
  return {
    address,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    client,
    rerank: (partial, options = {}) =>
      new Promise((resolve, reject) =>
        client.rerank(
          RerankRequest.fromPartial(partial),
          new Metadata(),
          { deadline: Date.now() + (options.deadlineMs ?? 30_000) },
          (error, response) => (error ? reject(error) : resolve(response)),
        ),
      ),
    listModels: () =>
      new Promise((resolve, reject) => client.listModels({}, (error, response) => (error ? reject(error) : resolve(response)))),
    logs: () => output,
    stop: async () => {
      client.close();
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Resolves with the gRPC error a call failed with; fails the test if it succeeded. */
export async function grpcError(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail, it succeeded");
}
