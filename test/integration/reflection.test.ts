/**
 * Server reflection against the real gateway and Triton: grpcurl (ops/install-tools.sh) and buf curl list, describe
 * and call every exposed service with no .proto at hand, and the README's commands run exactly as written there.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadSync } from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RerankRequest, type RerankResponse } from "../../src/gen/rerank/v1/rerank.js";
import { SERVED_SERVICES } from "../../src/api/server.js";
import { startGateway, type RunningGateway } from "../support/gateway.js";

const root = join(import.meta.dirname, "..", "..");
const binDir = join(root, ".run", "bin");
const sample = RerankRequest.fromJSON(JSON.parse(readFileSync(join(root, "examples/sample-request.json"), "utf8")));

/** What the gateway serves: its API, health, and reflection itself in both versions. */
const EXPOSED_SERVICES = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "rerank.v1.RerankService",
];
/** Every method of those, from the handlers the server registers (grpc-js paths without the leading slash). */
const EXPOSED_METHODS = [
  ...SERVED_SERVICES.flatMap((definition) => Object.values(definition).map((method) => method.path.slice(1))),
  "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
].sort();

/** The address the README's commands use, replaced by the test gateway's. */
const README_ADDRESS = "127.0.0.1:50051";
/** Each grpcurl / buf curl command of the README's API section is the one command one of these matches. */
const README_COMMANDS = {
  list: /^grpcurl .* list$/,
  describe: /^grpcurl .* describe rerank\.v1\.RerankRequest$/,
  healthCheck: /^grpcurl .* grpc\.health\.v1\.Health\/Check$/,
  grpcurlRerank: /^grpcurl .* rerank\.v1\.RerankService\/Rerank /,
  bufListMethods: /^npx buf curl .* --list-methods /,
  bufRerank: /^npx buf curl .*\/rerank\.v1\.RerankService\/Rerank$/,
};

/** The grpcurl and buf curl commands of the README's API section, with `\` continuations joined. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const api = readme.split(/^## /m).find((section) => section.startsWith("API\n")) ?? "";
  return [...api.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap(([, block]) =>
    block!
      .replace(/\\\n\s*/g, "")
      .split("\n")
      .filter((command) => /^(grpcurl|npx buf curl) /.test(command)),
  );
}

/** Runs a shell command from the repository root, with the pinned grpcurl first on PATH. */
async function shell(command: string): Promise<string> {
  const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}` };
  return (await promisify(execFile)("bash", ["-c", command], { cwd: root, env })).stdout;
}

let gateway: RunningGateway;

/** Runs the README command that `pattern` matches, exactly as written but against the test gateway. */
function runReadmeCommand(pattern: RegExp, extraFlags = ""): Promise<string> {
  const matching = readmeCommands().filter((command) => pattern.test(command));
  expect(matching, `README commands matching ${pattern}`).toHaveLength(1);
  return shell(matching[0]!.replaceAll(README_ADDRESS, gateway.address) + extraFlags);
}

const grpcurl = (...args: string[]) => shell(["grpcurl", "-plaintext", gateway.address, ...args].join(" "));

/** The ranking of a response: the model and, in order, each result's index, score and document. */
const rankingOf = ({ model, results }: RerankResponse) => ({
  model,
  // protojson leaves out an index of 0, the default.
  results: results.map(({ index, score, document }) => ({ index: index ?? 0, score, document })),
});

/** The TS client's ranking of the sample, scores to 1e-6. */
async function referenceRanking(): Promise<unknown> {
  const ranking = rankingOf(await gateway.rerank(sample));
  return { ...ranking, results: ranking.results.map((result) => ({ ...result, score: expect.closeTo(result.score, 6) })) };
}

beforeAll(async () => {
  expect(existsSync(join(binDir, "grpcurl")), "grpcurl is missing: run ops/install-tools.sh").toBe(true);
  gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl") });
});
afterAll(() => gateway?.stop());

describe("the README's reflection commands", () => {
  it("are each run by one test below", () => {
    const commands = readmeCommands();
    expect(commands.length).toBe(Object.keys(README_COMMANDS).length);
    for (const command of commands) {
      expect(
        Object.values(README_COMMANDS).filter((pattern) => pattern.test(command)),
        command,
      ).toHaveLength(1);
    }
  });
});

describe("grpcurl through server reflection", () => {
  it("lists exactly the services the gateway exposes", async () => {
    expect((await runReadmeCommand(README_COMMANDS.list)).trim().split("\n").sort()).toEqual(EXPOSED_SERVICES);
  });

  it.each(EXPOSED_SERVICES)("describes %s with every method", async (service) => {
    const description = await grpcurl("describe", service);
    expect(description).toContain(`${service} is a service:`);
    const methods = [...description.matchAll(/^\s*rpc (\w+) ?\(/gm)].map(([, method]) => `${service}/${method}`);
    expect(methods.sort()).toEqual(EXPOSED_METHODS.filter((method) => method.startsWith(`${service}/`)));
  });

  it("describes grpc.health.v1.HealthListResponse with its map field (grpcurl#519)", async () => {
    expect(await grpcurl("describe", "grpc.health.v1.HealthListResponse")).toContain(
      "map<string, .grpc.health.v1.HealthCheckResponse> statuses = 1;",
    );
  });

  it("describes rerank.v1.RerankRequest with every field of rerank.proto", async () => {
    const description = await runReadmeCommand(README_COMMANDS.describe);
    const fields = [...description.matchAll(/^\s+(?:optional |repeated )?\S+ (\w+) = (\d+);/gm)].map(([, name, number]) => ({
      name,
      number: Number(number),
    }));
    // The reference: protobufjs parsing the .proto source, not the descriptor set reflection serves.
    const parsed = loadSync(join(root, "proto/rerank/v1/rerank.proto"), { keepCase: true });
    const { type } = parsed["rerank.v1.RerankRequest"] as { type: { field: { name: string; number: number }[] } };
    expect(fields).toEqual(type.field.map(({ name, number }) => ({ name, number })));
  });

  it("answers the README's health check with SERVING", async () => {
    expect(JSON.parse(await runReadmeCommand(README_COMMANDS.healthCheck))).toEqual({ status: "SERVING" });
  });

  it("reranks the sample as the TypeScript client does", async () => {
    const ranking = rankingOf(JSON.parse(await runReadmeCommand(README_COMMANDS.grpcurlRerank)));
    expect(ranking.results).toHaveLength(sample.documents.length);
    expect(ranking).toEqual(await referenceRanking());
  });
});

describe("buf curl through server reflection", () => {
  it.each(["", " --reflect-protocol grpc-v1", " --reflect-protocol grpc-v1alpha"])(
    "lists every method (README command%s)",
    async (protocol) => {
      const methods = (await runReadmeCommand(README_COMMANDS.bufListMethods, protocol)).trim().split("\n");
      expect(methods.sort()).toEqual(EXPOSED_METHODS);
    },
  );

  it("reranks the sample as the TypeScript client does", async () => {
    const ranking = rankingOf(JSON.parse(await runReadmeCommand(README_COMMANDS.bufRerank)));
    expect(ranking.results).toHaveLength(sample.documents.length);
    expect(ranking).toEqual(await referenceRanking());
  });
});
