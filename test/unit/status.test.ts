import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { GRPC_STATUS, toServiceError } from "../../src/api/status.js";
import { GatewayError, type ErrorKind } from "../../src/errors.js";

afterEach(() => vi.restoreAllMocks());

const EXPECTED: [ErrorKind, status][] = [
  ["invalid", status.INVALID_ARGUMENT],
  ["unauthenticated", status.UNAUTHENTICATED],
  ["not_found", status.NOT_FOUND],
  ["overloaded", status.RESOURCE_EXHAUSTED],
  ["unavailable", status.UNAVAILABLE],
  ["timeout", status.DEADLINE_EXCEEDED],
  ["cancelled", status.CANCELLED],
  ["internal", status.INTERNAL],
];

describe("toServiceError", () => {
  it("maps every error kind, and no other", () => {
    expect(Object.keys(GRPC_STATUS).sort()).toEqual(EXPECTED.map(([kind]) => kind).sort());
  });

  it.each(EXPECTED)("'%s' becomes gRPC status %i with the error's message and no retry trailers", (kind, code) => {
    const failure = toServiceError(new GatewayError(kind, `it went ${kind}`), "req-1", "Rerank");
    expect(failure.code).toBe(code);
    expect(failure.details).toBe(`it went ${kind}`);
    expect(failure.metadata?.get("retry-after-ms")).toEqual([]);
    expect(failure.metadata?.get("grpc-retry-pushback-ms")).toEqual([]);
  });

  it("carries an overload's retry hint as retry-after-ms and grpc-retry-pushback-ms, with the exact value", () => {
    const failure = toServiceError(new GatewayError("overloaded", "every model is full", 1_234), "req-1", "Rerank");
    expect(failure.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(failure.metadata?.get("retry-after-ms")).toEqual(["1234"]);
    expect(failure.metadata?.get("grpc-retry-pushback-ms")).toEqual(["1234"]);
  });

  it("turns any other error into INTERNAL naming the request id, and logs its stack under that id", () => {
    const logged: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((line) => logged.push(String(line)) > 0);
    const failure = toServiceError(new Error("secret detail at /srv/app/config.json"), "req-42", "Rerank");
    expect(failure.code).toBe(status.INTERNAL);
    expect(failure.details).toContain("req-42");
    expect(failure.details).not.toContain("secret");
    expect(failure.details).not.toContain("/srv/app");
    expect(failure.metadata).toBeUndefined();
    const entry = JSON.parse(logged.join(""));
    expect(entry).toMatchObject({ level: "error", requestId: "req-42", method: "Rerank" });
    expect(entry.error).toContain("secret detail at /srv/app/config.json");
  });

  it("treats a thrown non-Error as internal too", () => {
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const failure = toServiceError("a string thrown by mistake", "req-7", "ListModels");
    expect(failure).toMatchObject({ code: status.INTERNAL });
    expect(failure.details).toContain("req-7");
    expect(failure.details).not.toContain("mistake");
  });
});
