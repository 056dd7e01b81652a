/** Start-up checks and infrastructure failures, each against a real Triton (or a port where none listens). */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { describe, expect, inject, it } from "vitest";
import { grpcError, startGateway } from "../support/gateway.js";
import { healthClient } from "../../tools/health-client.js";
import { freePort } from "../support/ports.js";

const root = join(import.meta.dirname, "..", "..");
const registry = JSON.parse(readFileSync(join(root, "src/catalog/registry.json"), "utf8"));

/** A registry file like the shipped one, with tiny-bert-reranker's entry changed. */
function registryWith(change: Record<string, unknown>, triton: Record<string, unknown> = {}): string {
  const changed = structuredClone(registry);
  const model = changed.models.find((m: { name: string }) => m.name === "tiny-bert-reranker");
  Object.assign(model, change);
  model.triton = { ...model.triton, ...triton };
  const file = join(mkdtempSync(join(tmpdir(), "rerank-registry-")), "registry.json");
  writeFileSync(file, JSON.stringify(changed));
  return file;
}

describe("when Triton cannot serve", () => {
  it("Triton unreachable: UNAVAILABLE naming the endpoint", async () => {
    const endpoint = `127.0.0.1:${await freePort()}`;
    const gateway = await startGateway({ TRITON_GRPC_URL: endpoint }, "answering");
    try {
      const error = await grpcError(gateway.rerank({ query: "q", documents: ["d"] }));
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toContain(`Triton at ${endpoint}`);
      expect((await gateway.listModels()).models.some((model) => model.ready)).toBe(false);
    } finally {
      await gateway.stop();
    }
  });

  it("model not loaded in Triton: UNAVAILABLE naming the endpoint and the model", async () => {
    const gateway = await startGateway(
      {
        TRITON_GRPC_URL: inject("tritonGrpcUrl"),
        RERANK_REGISTRY: registryWith({}, { model: "not-loaded" }),
        RERANK_MODELS: "tiny-bert-reranker",
      },
      "answering",
    );
    try {
      const error = await grpcError(gateway.rerank({ query: "q", documents: ["d"] }));
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toMatch(new RegExp(`Triton at ${inject("tritonGrpcUrl")}: ModelInfer\\(not-loaded\\)`));
    } finally {
      await gateway.stop();
    }
  });

  it("a registry that disagrees with Triton's model metadata stops start-up, naming both sides", async () => {
    const failure = startGateway({
      TRITON_GRPC_URL: inject("tritonGrpcUrl"),
      RERANK_REGISTRY: registryWith({}, { output: "scores" }),
      RERANK_MODELS: "tiny-bert-reranker",
    });
    await expect(failure).rejects.toThrow(/output scores: registry declares scores FP32 \[-1, 1\], Triton serves logits/);
  });
});

describe("limits", () => {
  it("a query that leaves an only_second model no room for the document is INVALID_ARGUMENT, even with truncate", async () => {
    const gateway = await startGateway({
      TRITON_GRPC_URL: inject("tritonGrpcUrl"),
      RERANK_REGISTRY: registryWith({ truncation: "only_second" }),
      RERANK_MODELS: "tiny-bert-reranker",
    });
    try {
      const error = await grpcError(gateway.rerank({ query: "word ".repeat(600), documents: ["d"], truncate: true }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/query has \d+ tokens, leaving no room for the document/);
    } finally {
      await gateway.stop();
    }
  });

  it("a message over the size limit is RESOURCE_EXHAUSTED", async () => {
    const gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl"), RERANK_MAX_MESSAGE_BYTES: String(64 * 1024) });
    try {
      const error = await grpcError(gateway.rerank({ query: "q", documents: ["x".repeat(100 * 1024)] }));
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    } finally {
      await gateway.stop();
    }
  });
});

describe("health and reflection", () => {
  it("reports SERVING overall and per model through grpc.health.v1", async () => {
    const gateway = await startGateway({ TRITON_GRPC_URL: inject("tritonGrpcUrl") });
    const health = healthClient(gateway.address);
    try {
      expect(await health.check("")).toBe("SERVING");
      expect(await health.check("rerank.v1.RerankService")).toBe("SERVING");
      expect(await health.check("tiny-bert-reranker")).toBe("SERVING");
    } finally {
      health.close();
      await gateway.stop();
    }
  });
});
