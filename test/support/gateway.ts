/** Runs the built gateway (dist/) as a real child process, and a typed gRPC client for it. */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { credentials, Metadata, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import {
  RerankServiceClient,
  RerankRequest,
  type RerankResponse,
  type ListModelsResponse,
} from "../../src/gen/rerank/v1/rerank.js";
import { inject } from "vitest";
import { healthClient } from "../../tools/health-client.js";
import { freePort } from "./ports.js";

const root = join(import.meta.dirname, "..", "..");

export interface RunningGateway {
  address: string;
  /** http://127.0.0.1:<port>/metrics */
  metricsUrl: string;
  /** The HTTP/JSON API's base URL, http://127.0.0.1:<port> (RERANK_HTTP_LISTEN); https:// when env turns TLS on. */
  httpUrl: string;
  client: RerankServiceClient;
  rerank(request: Partial<RerankRequest>, options?: { deadlineMs?: number }): Promise<RerankResponse>;
  listModels(): Promise<ListModelsResponse>;
  logs(): string;
  /** The gateway's JSON log lines (pino), parsed; other output is skipped. */
  logRecords(): Record<string, unknown>[];
  /** Sends the process a signal without waiting (stop() sends SIGTERM and waits). */
  kill(signal: NodeJS.Signals): void;
  /** The process's exit code, once it has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * What start-up waits for, through grpc.health.v1: "serving", the gateway's overall status is SERVING (its default
 * model is ready); "answering", the health service answers at all (for tests where Triton cannot serve).
 */
export type StartedWhen = "serving" | "answering";

const START_TIMEOUT_MS = 60_000;

/** How the test's own clients (the typed client, the start-up health check) reach the gateway. */
export interface ClientOptions {
  /** TLS credentials, for a gateway started with RERANK_TLS_CERT_FILE (plaintext by default). */
  credentials?: ChannelCredentials;
  /** Sent as `authorization: Bearer <key>` on every rerank and listModels call. */
  apiKey?: string;
}

export async function startGateway(
  env: Record<string, string>,
  startedWhen: StartedWhen = "serving",
  clientOptions: ClientOptions = {},
): Promise<RunningGateway> {
  const channelCredentials = clientOptions.credentials ?? credentials.createInsecure();
  const metadata = () => {
    const sent = new Metadata();
    if (clientOptions.apiKey) sent.set("authorization", `Bearer ${clientOptions.apiKey}`);
    return sent;
  };
  const address = `127.0.0.1:${await freePort()}`;
  const metricsPort = await freePort();
  const httpPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, [join(root, "dist", "src", "main.js")], {
    env: {
      ...process.env,
      RERANK_LISTEN: address,
      RERANK_READINESS_POLL_MS: "500",
      RERANK_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      RERANK_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
      RERANK_TOKENIZER_DIR: inject("tokenizerDir"),
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await waitUntilStarted(address, startedWhen, channelCredentials, () =>
    child.exitCode === null ? undefined : `gateway exited with ${child.exitCode} before it started:\n${output}`,
  );
  const client = new RerankServiceClient(address, channelCredentials);
  return {
    address,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    httpUrl: `${env.RERANK_TLS_CERT_FILE ? "https" : "http"}://127.0.0.1:${httpPort}`,
    client,
    rerank: (partial, options = {}) => rerankOn(client, partial, metadata(), options.deadlineMs),
    listModels: () =>
      new Promise((resolve, reject) =>
        client.listModels({}, metadata(), (error, response) => (error ? reject(error) : resolve(response))),
      ),
    logs: () => output,
    logRecords: () =>
      output.split("\n").flatMap((line) => {
        try {
          return line.startsWith("{") ? [JSON.parse(line) as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
    kill: (signal) => child.kill(signal),
    exited,
    stop: async () => {
      client.close();
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** One Rerank call on `client` (the gateway's own, or one a test made with other credentials) with `metadata`. */
export function rerankOn(
  client: RerankServiceClient,
  partial: Partial<RerankRequest>,
  metadata = new Metadata(),
  deadlineMs = 30_000,
): Promise<RerankResponse> {
  return new Promise((resolve, reject) =>
    client.rerank(RerankRequest.fromPartial(partial), metadata, { deadline: Date.now() + deadlineMs }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

/** Polls the gateway's health service until it reports what `startedWhen` asks for; fails if `exited` says so. */
async function waitUntilStarted(
  address: string,
  startedWhen: StartedWhen,
  channelCredentials: ChannelCredentials,
  exited: () => string | undefined,
): Promise<void> {
  const health = healthClient(address, channelCredentials);
  const giveUp = Date.now() + START_TIMEOUT_MS;
  try {
    for (;;) {
      const status = await health.check("", 500).catch(() => undefined);
      if (status === "SERVING" || (status !== undefined && startedWhen === "answering")) return;
      const exit = exited();
      if (exit) throw new Error(exit);
      if (Date.now() > giveUp)
        throw new Error(`gateway at ${address} not ${startedWhen} after ${START_TIMEOUT_MS} ms (health: ${status})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    health.close();
  }
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
