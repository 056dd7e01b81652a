/**
 * The largest document a request may carry (RERANK_MAX_DOCUMENT_BYTES): checked at the API edge, before anything
 * is tokenized, in UTF-8 bytes; INVALID_ARGUMENT naming the document, its size and the limit.
 */
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { toServiceError } from "../../src/api/status.js";
import { DEFAULT_MAX_DOCUMENT_BYTES, validateRerank } from "../../src/api/validation.js";
import { loadRegistry } from "../../src/catalog/registry.js";
import { loadConfig } from "../../src/config/config.js";
import { GatewayError } from "../../src/errors.js";
import { rerankInput } from "../support/rerank-input.js";

const registry = loadRegistry(join(import.meta.dirname, "../../src/catalog/registry.json"), { target: "cpu" });
const request = (documents: string[]) => rerankInput({ query: "q", documents });

function rejection(documents: string[], maxDocumentBytes?: number): GatewayError {
  try {
    validateRerank(request(documents), registry, 10, maxDocumentBytes);
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error("request was accepted");
}

describe("maximum document size", () => {
  it("rejects a larger document as invalid, naming its index, its size and the limit", () => {
    const error = rejection(["small", "x".repeat(101), "also small"], 100);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error.kind).toBe("invalid");
    expect(error.message).toBe("document 1 is 101 bytes, over the limit of 100 bytes per document");
    expect(toServiceError(error, "request-id", "Rerank").code).toBe(status.INVALID_ARGUMENT);
  });

  it("accepts a document of exactly the limit", () => {
    expect(validateRerank(request(["x".repeat(100)]), registry, 10, 100).documents).toHaveLength(1);
  });

  it("counts UTF-8 bytes, not characters", () => {
    // 40 characters: 120 bytes of CJK, 160 of emoji (surrogate pairs: 80 UTF-16 units).
    expect(rejection(["東".repeat(40)], 100).message).toBe("document 0 is 120 bytes, over the limit of 100 bytes per document");
    expect(rejection(["a", "😀".repeat(40)], 150).message).toContain("document 1 is 160 bytes");
    expect(validateRerank(request(["é".repeat(50)]), registry, 10, 100).documents).toHaveLength(1);
  });

  it("defaults to 1 MiB", () => {
    expect(DEFAULT_MAX_DOCUMENT_BYTES).toBe(1024 * 1024);
    expect(validateRerank(request(["x".repeat(1024 * 1024)]), registry, 10).documents).toHaveLength(1);
    expect(rejection(["x".repeat(1024 * 1024 + 1)]).message).toBe(
      "document 0 is 1048577 bytes, over the limit of 1048576 bytes per document",
    );
  });
});

describe("configuration", () => {
  it("reads RERANK_MAX_DOCUMENT_BYTES and RERANK_TOKEN_CACHE_BYTES, with their defaults", () => {
    expect(loadConfig({})).toMatchObject({ maxDocumentBytes: 1024 * 1024, tokenCacheBytes: 64 * 1024 * 1024 });
    expect(loadConfig({ RERANK_MAX_DOCUMENT_BYTES: "2048", RERANK_TOKEN_CACHE_BYTES: "0" })).toMatchObject({
      maxDocumentBytes: 2048,
      tokenCacheBytes: 0,
    });
    expect(() => loadConfig({ RERANK_MAX_DOCUMENT_BYTES: "0" })).toThrow(
      `RERANK_MAX_DOCUMENT_BYTES="0" is not allowed: an integer >= 1`,
    );
    expect(() => loadConfig({ RERANK_TOKEN_CACHE_BYTES: "-1" })).toThrow(
      `RERANK_TOKEN_CACHE_BYTES="-1" is not allowed: an integer >= 0`,
    );
  });
});
