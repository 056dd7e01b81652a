import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { loadCatalog } from "../../src/catalog/registry.js";
import { ConfigError, loadConfig } from "../../src/config/config.js";

const root = join(import.meta.dirname, "../..");
const registryFile = join(root, "src/catalog/registry.json");

describe("loadConfig", () => {
  it("keeps the documented defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      listenAddress: "0.0.0.0:50051",
      httpListenAddress: "0.0.0.0:8080",
      tritonUrls: ["127.0.0.1:8001"],
      metricsListen: "127.0.0.1:9464",
      registryFile,
      serving: { target: "cpu", models: undefined, defaultModel: undefined },
      tokenizerDir: join(root, "tokenizers"),
      maxDocuments: 1000,
      maxMessageBytes: 8 * 1024 * 1024,
      maxDocumentBytes: 1024 * 1024,
      tokenCacheBytes: 64 * 1024 * 1024,
      defaultTimeoutMs: 60_000,
      readinessPollMs: 2_000,
      drainGraceMs: 25_000,
    });
  });

  it("reads set values; an empty one means the default", () => {
    const config = loadConfig({
      RERANK_LISTEN: "[::1]:0",
      TRITON_GRPC_URL: "10.0.0.1:8001, dns:///triton-headless:8001",
      RERANK_TARGET: "gpu",
      RERANK_MODELS: "a, b",
      RERANK_DEFAULT_MODEL: "b",
      RERANK_TOKEN_CACHE_BYTES: "0",
      RERANK_DRAIN_GRACE_MS: "5000",
      RERANK_MAX_DOCUMENTS: "",
    });
    expect(config).toMatchObject({
      listenAddress: "[::1]:0",
      tritonUrls: ["10.0.0.1:8001", "dns:///triton-headless:8001"],
      serving: { target: "gpu", models: ["a", "b"], defaultModel: "b" },
      tokenCacheBytes: 0,
      drainGraceMs: 5000,
      maxDocuments: 1000,
    });
  });

  it.each([
    ["RERANK_LISTEN", "localhost", "host:port, [ipv6]:port or :port with a port of 0-65535"],
    ["RERANK_HTTP_LISTEN", "0.0.0.0:99999", "host:port, [ipv6]:port or :port with a port of 0-65535"],
    ["RERANK_METRICS_LISTEN", "9464", "host:port, [ipv6]:port or :port with a port of 0-65535"],
    ["TRITON_GRPC_URL", "http://triton:8001", "a comma-separated list of host:port or gRPC targets"],
    ["TRITON_GRPC_URL", " , ", "a comma-separated list of host:port or gRPC targets"],
    ["RERANK_TARGET", "tpu", "cpu or gpu"],
    ["RERANK_MODELS", ",", "a comma-separated list of model names"],
    ["RERANK_MAX_DOCUMENTS", "0", "an integer >= 1 (default 1000)"],
    ["RERANK_MAX_MESSAGE_BYTES", "100", "an integer >= 1024 (default 8388608)"],
    ["RERANK_MAX_DOCUMENT_BYTES", "1.5", "an integer >= 1 (default 1048576)"],
    ["RERANK_TOKENIZER_THREADS", "many", "an integer >= 1"],
    ["RERANK_TOKEN_CACHE_BYTES", "-1", "an integer >= 0 (default 67108864)"],
    ["RERANK_DEFAULT_TIMEOUT_MS", "60s", "an integer >= 1 (default 60000)"],
    ["RERANK_READINESS_POLL_MS", "10", "an integer >= 100 (default 2000)"],
    ["RERANK_DRAIN_GRACE_MS", "-5", "an integer >= 0 (default 25000)"],
    ["RERANK_LOG_LEVEL", "verbose", "debug, info, warn or error"],
  ])("%s=%j is refused in one line naming the variable, the value and what is allowed", (name, value, allowed) => {
    const load = () => loadConfig({ [name]: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`${name}=${JSON.stringify(value)} is not allowed: ${allowed}`);
    expect(() => load()).not.toThrow(/\n/);
  });
});

describe("registry schema", () => {
  const shipped = JSON.parse(readFileSync(registryFile, "utf8"));
  const loadChanged = (change: (registry: typeof shipped) => void) => {
    const registry = structuredClone(shipped);
    change(registry);
    const file = join(mkdtempSync(join(tmpdir(), "registry-")), "registry.json");
    writeFileSync(file, JSON.stringify(registry));
    return () => loadCatalog(file);
  };
  const first = shipped.models[0].name;

  it.each([
    [
      "a missing field",
      (r: typeof shipped) => delete r.models[0].tokenizer,
      `model "${first}": tokenizer must be a non-empty string`,
    ],
    [
      "a string for a number",
      (r: typeof shipped) => (r.models[0].maxLength = "512"),
      `model "${first}": maxLength must be an integer >= 8`,
    ],
    [
      "a nested bad value",
      (r: typeof shipped) => (r.models[0].triton.maxBatchSize = 0),
      `model "${first}": triton.maxBatchSize must be an integer >= 1`,
    ],
    [
      "a bad routing setting",
      (r: typeof shipped) => (r.models[0].routing = { budgetSlack: -1 }),
      `model "${first}": routing.budgetSlack must be a positive number`,
    ],
    ["a misspelt field", (r: typeof shipped) => (r.models[0].maxLenght = 512), `model "${first}": unknown field maxLenght`],
    [
      "a misspelt routing field",
      (r: typeof shipped) => (r.models[0].routing = { capacity: 5 }),
      `model "${first}": unknown field routing.capacity`,
    ],
    [
      "an unknown truncation",
      (r: typeof shipped) => (r.models[0].truncation = "left"),
      `model "${first}": truncation must be one of longest_first, only_second`,
    ],
    [
      "a query cap over maxLength",
      (r: typeof shipped) => (r.models[0].queryMaxLength = 99999),
      `model "${first}": queryMaxLength must be an integer below maxLength`,
    ],
    [
      "unordered buckets",
      (r: typeof shipped) => (r.models[0].triton.lengthBuckets = [64, 32]),
      `model "${first}": triton.lengthBuckets must be ascending positive integers`,
    ],
    ["a model without a name", (r: typeof shipped) => delete r.models[1].name, "model #1: a model has no name"],
    ["no models", (r: typeof shipped) => (r.models = []), "no models"],
  ])("names the model and field of %s", (_case, change, message) => {
    expect(loadChanged(change)).toThrow(`model registry ${join(tmpdir())}`);
    expect(loadChanged(change)).toThrow(message);
  });
});

describe("node dist/src/main.js --check-config", () => {
  const check = (env: Record<string, string>) =>
    promisify(execFile)(process.execPath, [join(root, "dist/src/main.js"), "--check-config"], {
      env: { ...process.env, ...env, TRITON_GRPC_URL: env.TRITON_GRPC_URL ?? "127.0.0.1:1" },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

  it("prints what it would serve and exits 0 without contacting Triton (nothing listens on port 1)", async () => {
    const { code, stdout, stderr } = await check({ RERANK_LISTEN: "127.0.0.1:50999", RERANK_MODELS: "all-minilm-l6-v2" });
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toContain("configuration OK");
    expect(stdout).toContain("gRPC listen:    127.0.0.1:50999");
    expect(stdout).toContain("Triton:         127.0.0.1:1");
    expect(stdout).toContain("models:         all-minilm-l6-v2 (default all-minilm-l6-v2)");
  });

  it.each([
    [{ RERANK_READINESS_POLL_MS: "fast" }, 'RERANK_READINESS_POLL_MS="fast" is not allowed: an integer >= 100 (default 2000)'],
    [{ RERANK_MODELS: "no-such-model" }, "RERANK_MODELS names models the registry lacks: no-such-model"],
    [{ RERANK_REGISTRY: "/nonexistent/registry.json" }, "model registry /nonexistent/registry.json: cannot read"],
  ])("%j: exit 1 with one line", async (env, line) => {
    const { code, stdout, stderr } = await check(env);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(stderr).toContain(line);
  });
});

describe("loadConfig: RERANK_MAX_WINDOWS_PER_REQUEST", () => {
  it("is unset by default (the Reranker's per-document default applies), else a positive integer", () => {
    expect(loadConfig({}).maxWindowsPerRequest).toBeUndefined();
    expect(loadConfig({ RERANK_MAX_WINDOWS_PER_REQUEST: "500" }).maxWindowsPerRequest).toBe(500);
    expect(() => loadConfig({ RERANK_MAX_WINDOWS_PER_REQUEST: "0" })).toThrow(
      'RERANK_MAX_WINDOWS_PER_REQUEST="0" is not allowed: an integer >= 1 (default 8 per document of RERANK_MAX_DOCUMENTS)',
    );
  });
});
