import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";

describe("loadConfig: RERANK_MAX_WINDOWS_PER_REQUEST", () => {
  it("is unset by default (the Reranker's per-document default applies), else a positive integer", () => {
    expect(loadConfig({}).maxWindowsPerRequest).toBeUndefined();
    expect(loadConfig({ RERANK_MAX_WINDOWS_PER_REQUEST: "500" }).maxWindowsPerRequest).toBe(500);
    expect(() => loadConfig({ RERANK_MAX_WINDOWS_PER_REQUEST: "0" })).toThrow(
      'RERANK_MAX_WINDOWS_PER_REQUEST must be an integer >= 1, got "0"',
    );
  });
});
