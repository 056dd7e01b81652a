/**
 * API keys and per-key quotas on both APIs of the real gateway (over TLS, as in production), with the keys file
 * written by the api-keys CLI: requests without a valid key are refused and the key never shows, health stays open,
 * a key over its pairs-per-second quota is told when to retry while other keys go on, the key's name labels the
 * metrics, and editing the file takes effect without a restart.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RELOAD_INTERVAL_MS } from "../../src/api/watched-files.js";
import { healthClient } from "../../tools/health-client.js";
import { createTestCertificates, trusting, type TestCertificates } from "../support/certificates.js";
import { curl, type CurlResult } from "../support/curl.js";
import { grpcError, rerankOn, startGateway, type RunningGateway } from "../support/gateway.js";
import { metric, poll } from "../support/metrics.js";

const root = join(import.meta.dirname, "..", "..");
const samplePath = join(root, "examples/sample-request.json");
const sample = JSON.parse(readFileSync(samplePath, "utf8")) as { query: string; documents: string[] };
const MODEL = "tiny-bert-reranker";
const request = { ...sample, model: MODEL };
/** The limited key's quota: the 6-document sample empties its bucket, which takes 12 s to refill. */
const LIMITED = { pairsPerSecond: 0.5, burst: sample.documents.length };

const keysFile = join(mkdtempSync(join(tmpdir(), "rerank-keys-")), "api-keys.json");
/** Runs the api-keys CLI as the README shows it; its stdout (the new key, for add). */
const apiKeys = (...args: string[]) =>
  execFileSync(process.execPath, [join(root, "dist/tools/api-keys.js"), ...args, "--file", keysFile])
    .toString()
    .trim();

let pki: TestCertificates;
let gateway: RunningGateway;
const keys = { search: "", limited: "" };
/** Every key this file made or sent: none may show in a response, the logs or the metrics. */
const secrets: string[] = [];

beforeAll(async () => {
  pki = createTestCertificates();
  keys.search = apiKeys("add", "search");
  keys.limited = apiKeys(
    "add",
    "limited",
    "--pairs-per-second",
    String(LIMITED.pairsPerSecond),
    "--burst",
    String(LIMITED.burst),
  );
  secrets.push(keys.search, keys.limited);
  gateway = await startGateway(
    {
      TRITON_GRPC_URL: inject("tritonGrpcUrl"),
      RERANK_MODELS: MODEL,
      RERANK_TLS_CERT_FILE: pki.server.cert,
      RERANK_TLS_KEY_FILE: pki.server.key,
      RERANK_API_KEYS_FILE: keysFile,
    },
    "serving",
    { credentials: trusting(pki.ca), apiKey: keys.search },
  );
});
afterAll(() => gateway?.stop());

const withHeaders = (headers: Record<string, string>) => {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return metadata;
};
const rerankSending = (headers: Record<string, string>) => rerankOn(gateway.client, request, withHeaders(headers));
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** curl over TLS to `path` with these headers, POSTing `body` (curl's -d) when given. */
function httpSending(path: string, headers: Record<string, string>, body?: string): Promise<CurlResult> {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  const bodyArgs = body === undefined ? [] : ["-H", "content-type: application/json", "-d", body];
  return curl(`${gateway.httpUrl}${path}`, "--cacert", pki.ca.cert, ...headerArgs, ...bodyArgs);
}
const SAMPLE_BODY = `@${samplePath}`;
const TEI_BODY = JSON.stringify({ query: sample.query, texts: sample.documents, model: MODEL });

const gatewayMetric = (name: string, labels: Record<string, string>) => metric(gateway.metricsUrl, name, labels);

describe("without a valid key", () => {
  const wrongKey = "rk_" + "x".repeat(43);
  secrets.push(wrongKey);

  it.each([
    ["no key", {}],
    ["an unknown key", bearer(wrongKey)],
    ["an unknown x-api-key", { "x-api-key": wrongKey }],
  ])("%s: UNAUTHENTICATED on Rerank and ListModels, 401 on every HTTP route but health", async (_, headers) => {
    const refused = await grpcError(rerankSending(headers));
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(refused.details).not.toContain(wrongKey);
    const listModels = await grpcError(
      new Promise((resolve, reject) =>
        gateway.client.listModels({}, withHeaders(headers), (error, response) => (error ? reject(error) : resolve(response))),
      ),
    );
    expect(listModels.code).toBe(status.UNAUTHENTICATED);
    const routes: [string, string | undefined][] = [
      ["/v1/rerank", SAMPLE_BODY],
      ["/v2/rerank", SAMPLE_BODY],
      ["/v1/models", undefined],
      ["/no/such/route", undefined],
    ];
    for (const [path, body] of routes) {
      const answer = await httpSending(path, headers, body);
      expect(answer.status, path).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe("Bearer");
      expect(JSON.parse(answer.body).message).toBe(refused.details);
      expect(answer.body).not.toContain(wrongKey);
    }
    const tei = await httpSending("/rerank", headers, TEI_BODY);
    expect(tei.status).toBe(401);
    expect(JSON.parse(tei.body)).toEqual({ error: refused.details, error_type: "Unauthorized" });
  });

  it("says what to send when no key came, and only that the key is not valid otherwise", async () => {
    expect((await grpcError(rerankSending({}))).details).toBe(
      'an API key is required: send "authorization: Bearer <key>" or "x-api-key: <key>"',
    );
    expect((await grpcError(rerankSending(bearer(wrongKey)))).details).toBe("the API key is not valid");
  });

  it("health checks on both APIs and the OpenAPI document stay open", async () => {
    const health = healthClient(gateway.address, trusting(pki.ca));
    try {
      expect(await health.check("")).toBe("SERVING");
    } finally {
      health.close();
    }
    expect((await httpSending("/health", {})).status).toBe(200);
    expect((await httpSending("/openapi.json", {})).status).toBe(200);
  });

  it("counts refusals by API", async () => {
    expect(await gatewayMetric("rerank_unauthenticated_requests_total", { api: "grpc" })).toBeGreaterThan(0);
    expect(await gatewayMetric("rerank_unauthenticated_requests_total", { api: "http" })).toBeGreaterThan(0);
  });
});

describe("with a key", () => {
  it("reranks on both APIs, the key sent as Bearer or as x-api-key", async () => {
    const ranked = await rerankSending(bearer(keys.search));
    expect(ranked.results).toHaveLength(sample.documents.length);
    expect((await rerankSending({ "x-api-key": keys.search })).results).toEqual(ranked.results);
    expect((await gateway.listModels()).models.map((model) => model.name)).toEqual([MODEL]);
    for (const headers of [bearer(keys.search), { "x-api-key": keys.search }]) {
      const answer = await httpSending("/v2/rerank", headers, SAMPLE_BODY);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).results.map((result: { index: number }) => result.index)).toEqual(
        ranked.results.map((result) => result.index),
      );
    }
    expect((await httpSending("/v1/models", bearer(keys.search))).status).toBe(200);
  });

  it("a key over its quota gets RESOURCE_EXHAUSTED / 429 with a retry hint, on both APIs; other keys go on", async () => {
    expect((await rerankSending(bearer(keys.limited))).results).toHaveLength(LIMITED.burst);
    const refused = await grpcError(rerankSending(bearer(keys.limited)));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/^over API key limited's quota of 0\.5 pairs per second \(burst 6\): retry in \d+ ms$/);
    const retryAfterMs = Number(refused.metadata.get("retry-after-ms")[0]);
    // Six pairs at 0.5 a second, less what flowed back in since the first request.
    expect(retryAfterMs).toBeGreaterThan(5_000);
    expect(retryAfterMs).toBeLessThanOrEqual(12_000);
    expect(refused.metadata.get("grpc-retry-pushback-ms")).toEqual([String(retryAfterMs)]);

    const overHttp = await httpSending("/v1/rerank", bearer(keys.limited), SAMPLE_BODY);
    expect(overHttp.status).toBe(429);
    expect(JSON.parse(overHttp.body).message).toMatch(/^over API key limited's quota/);
    expect(Number(overHttp.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(overHttp.headers["retry-after"])).toBeLessThanOrEqual(12);

    expect((await rerankSending(bearer(keys.search))).results).toHaveLength(LIMITED.burst);
  });

  it("a request larger than the key's burst is INVALID_ARGUMENT naming the limit: it could never pass", async () => {
    const error = await grpcError(
      rerankOn(gateway.client, { ...request, documents: [...sample.documents, "one more"] }, withHeaders(bearer(keys.limited))),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe(
      "the request has 7 documents, more than API key limited's quota of 0.5 pairs per second (burst 6) allows at once",
    );
  });

  it("the metrics carry the key's name, never the key, on their own loopback address", async () => {
    expect(gateway.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(await gatewayMetric("rerank_requests_by_key_total", { key: "search", code: "OK" })).toBeGreaterThanOrEqual(3);
    expect(
      await gatewayMetric("rerank_requests_by_key_total", { key: "limited", code: "RESOURCE_EXHAUSTED" }),
    ).toBeGreaterThanOrEqual(2);
    expect(await gatewayMetric("rerank_quota_rejections_total", { key: "limited" })).toBeGreaterThanOrEqual(2);
    const text = await (await fetch(gateway.metricsUrl)).text();
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});

describe("editing the keys file while the gateway runs", () => {
  const within = { timeoutMs: 5 * RELOAD_INTERVAL_MS, intervalMs: 100 };
  const outcome = (key: string) =>
    rerankSending(bearer(key)).then(
      () => "OK",
      (error) => status[error.code as status],
    );

  it("a key added is accepted and a key removed is refused, without a restart", async () => {
    const added = apiKeys("add", "added-later");
    secrets.push(added);
    expect(
      await poll(
        () => outcome(added),
        (code) => code === "OK",
        within,
      ),
    ).toBe("OK");
    apiKeys("remove", "search");
    expect(
      await poll(
        () => outcome(keys.search),
        (code) => code === "UNAUTHENTICATED",
        within,
      ),
    ).toBe("UNAUTHENTICATED");
    expect(await gatewayMetric("rerank_reloads_total", { config: "api_keys", outcome: "applied" })).toBe(2);
  });

  it("the keys never appear in the gateway's logs", () => {
    expect(gateway.logs()).toContain("configuration reloaded");
    for (const secret of secrets) expect(gateway.logs()).not.toContain(secret);
  });
});
