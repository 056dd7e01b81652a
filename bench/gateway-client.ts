/** The benchmarks' gRPC client of a running gateway: connect, send one Rerank as an outcome, list the models served. */
import { performance } from "node:perf_hooks";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { countBy } from "./stats.js";
import {
  ListModelsRequest,
  RerankRequest,
  RerankServiceClient,
  type ModelInfo,
  type RerankResponse,
} from "../src/gen/rerank/v1/rerank.js";

const CONNECT_TIMEOUT_MS = 5_000;

export const gatewayAddress = (): string => process.env.RERANK_ADDRESS ?? "127.0.0.1:50051";

/** What one request came to; sending never rejects, an error is an outcome too. */
export type Outcome = { ok: true; latencyMs: number; response: RerankResponse } | Failure;

export interface Failure {
  ok: false;
  latencyMs: number;
  statusName: string;
  details: string;
}

export class Gateway {
  private readonly client: RerankServiceClient;

  constructor(readonly address: string = gatewayAddress()) {
    // Benchmarks send multi-megabyte requests; the gateway's own limit is what should refuse them.
    this.client = new RerankServiceClient(address, credentials.createInsecure(), { "grpc.max_send_message_length": -1 });
  }

  /** Fails fast with a clear message when no gateway listens. */
  waitForReady(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + CONNECT_TIMEOUT_MS, (error) =>
        error
          ? reject(new Error(`no gateway answers at ${this.address} (start one with: make up): ${error.message}`))
          : resolve(),
      ),
    );
  }

  send(request: Partial<RerankRequest>, deadlineMs: number): Promise<Outcome> {
    const message = RerankRequest.fromPartial(request);
    const started = performance.now();
    return new Promise((resolve) =>
      this.client.rerank(message, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => {
        const latencyMs = performance.now() - started;
        resolve(
          error
            ? { ok: false, latencyMs, statusName: status[error.code] ?? `code ${error.code}`, details: error.details }
            : { ok: true, latencyMs, response: response! },
        );
      }),
    );
  }

  /** Like send, but a failure throws (for runs where any error makes the figures meaningless). */
  async rerank(request: Partial<RerankRequest>, deadlineMs: number): Promise<RerankResponse> {
    const outcome = await this.send(request, deadlineMs);
    if (!outcome.ok) throw new Error(`Rerank failed: ${outcome.statusName}: ${outcome.details}`);
    return outcome.response;
  }

  listModels(): Promise<ModelInfo[]> {
    return new Promise((resolve, reject) =>
      this.client.listModels(ListModelsRequest.fromPartial({}), (error, response) =>
        error ? reject(error) : resolve(response!.models),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}

/** Failed outcomes by gRPC status, e.g. { DEADLINE_EXCEEDED: 2 }. */
export const errorsByStatus = (outcomes: readonly Outcome[]): Record<string, number> =>
  countBy(outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.statusName])));

/**
 * Latencies for percentiles: a failed request counts as never answered (Infinity), so that failures cannot make
 * a percentile look better than the successes alone would.
 */
export const answerTimes = (outcomes: readonly Outcome[]): number[] =>
  outcomes.map((outcome) => (outcome.ok ? outcome.latencyMs : Number.POSITIVE_INFINITY));
