/**
 * The generated gRPC clients of clients/ (Python, Go, Java; stubs generated from proto/ by ops/build-clients.sh)
 * against the real gateway and Triton: each client's CLI prints JSON, compared with what the TypeScript client gets
 * for the same requests.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { RerankRequest, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import { clearFault, setFault } from "../support/faults.js";
import { grpcError, startGateway, type RunningGateway } from "../support/gateway.js";

const root = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);
const readJson = (path: string) => JSON.parse(readFileSync(join(root, path), "utf8"));

/** How each client's CLI is started; it takes `<address> <command> [arguments]` and runs in the repository root. */
const CLIENTS: Record<string, string[]> = {
  python: [join(root, ".venv-clients/bin/python"), join(root, "clients/python/rerank_client.py")],
  go: [join(root, "clients/go/bin/rerank-client")],
  java: ["java", "-jar", join(root, "clients/java/target/rerank-client.jar")],
};
const SLOW_MODEL = "tiny-bert-reranker";

let gateway: RunningGateway;
/** The TypeScript client's response to examples/sample-request.json. */
let reference: RerankResponse;

beforeAll(async () => {
  // A no-op when the clients are built (make test builds them first); here so that this file runs on its own too.
  await run(join(root, "ops/build-clients.sh"), { cwd: root });
  gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl") });
  reference = await gateway.rerank(RerankRequest.fromJSON(readJson("examples/sample-request.json")));
}, 600_000);
afterAll(() => gateway?.stop());
afterEach(() => clearFault(SLOW_MODEL));

describe.each(Object.keys(CLIENTS))("the %s client", (client) => {
  async function cli(...args: string[]) {
    const [command, ...prefix] = CLIENTS[client]!;
    const { stdout } = await run(command!, [...prefix, gateway.address, ...args], { cwd: root, timeout: 30_000 });
    return JSON.parse(stdout);
  }

  it("sample: the TypeScript client's ranking, scores and model", async () => {
    const response = await cli("sample");
    expect(response.model).toBe(reference.model);
    expect(response.results.map((r: { index: number }) => r.index)).toEqual(reference.results.map((r) => r.index));
    response.results.forEach((result: { score: number; document: string }, rank: number) => {
      expect(Math.abs(result.score - reference.results[rank]!.score)).toBeLessThanOrEqual(1e-9);
      expect(result.document).toBe(reference.results[rank]!.document);
    });
  });

  it('health: SERVING for "" and the default model; a model not served is NOT_FOUND', async () => {
    const { models } = await gateway.listModels();
    const defaultModel = models.find((model) => model.isDefault)!.name;
    expect((await cli("health")).checks).toEqual([
      { service: "", status: "SERVING" },
      { service: defaultModel, status: "SERVING" },
    ]);
    const [, notServed] = (await cli("health", "no-such-model")).checks;
    expect(notServed).toMatchObject({ service: "no-such-model", code: "NOT_FOUND" });
  });

  it("bad-inputs: the gateway's status and message for each bad request, as the TypeScript client gets them", async () => {
    const cases: { name: string; request: unknown }[] = readJson("clients/bad-requests.json");
    const expected = await Promise.all(
      cases.map(async ({ name, request }) => {
        const error = await grpcError(gateway.rerank(RerankRequest.fromJSON(request)));
        return { name, code: status[error.code], message: error.details };
      }),
    );
    expect(expected.map((outcome) => outcome.code)).toEqual(["INVALID_ARGUMENT", "NOT_FOUND", "INVALID_ARGUMENT"]);
    expect((await cli("bad-inputs")).outcomes).toEqual(expected);
  });

  it("deadline: DEADLINE_EXCEEDED at the client's deadline, well before a slowed model answers", async () => {
    const delayMs = 3_000;
    const deadlineMs = 300;
    setFault(SLOW_MODEL, { delay_ms: delayMs });
    const outcome = await cli("deadline", SLOW_MODEL, String(deadlineMs));
    expect(outcome).toMatchObject({ model: SLOW_MODEL, deadline_ms: deadlineMs, code: "DEADLINE_EXCEEDED" });
    expect(outcome.elapsed_ms).toBeGreaterThanOrEqual(deadlineMs - 5);
    expect(outcome.elapsed_ms).toBeLessThan(delayMs / 3);
  });
});
