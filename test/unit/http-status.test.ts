import { afterEach, describe, expect, it, vi } from "vitest";
import { HTTP_STATUS, teiFailure, toHttpFailure } from "../../src/api/status.js";
import { GatewayError, type ErrorKind } from "../../src/errors.js";

afterEach(() => vi.restoreAllMocks());

const EXPECTED: [ErrorKind, number, string][] = [
  ["invalid", 400, "Validation"],
  ["unauthenticated", 401, "Unauthorized"],
  ["not_found", 404, "Validation"],
  ["overloaded", 429, "Overloaded"],
  ["unavailable", 503, "Unhealthy"],
  ["timeout", 504, "Backend"],
  ["cancelled", 499, "Backend"],
  ["internal", 500, "Backend"],
];

describe("toHttpFailure", () => {
  it("maps every error kind, and no other", () => {
    expect(Object.keys(HTTP_STATUS).sort()).toEqual(EXPECTED.map(([kind]) => kind).sort());
  });

  it.each(EXPECTED)("'%s' is HTTP %i with the error's message and no Retry-After", (kind, status) => {
    expect(toHttpFailure(new GatewayError(kind, `it went ${kind}`), "req-1", "POST /v2/rerank")).toEqual({
      status,
      kind,
      message: `it went ${kind}`,
      retryAfterSeconds: undefined,
    });
  });

  it.each([
    [1, 1],
    [1_000, 1],
    [1_001, 2],
    [7_000, 7],
  ])("an overload's retry hint of %i ms is Retry-After %i s (whole seconds, rounded up)", (ms, seconds) => {
    expect(toHttpFailure(new GatewayError("overloaded", "full", ms), "req-1", "POST /rerank").retryAfterSeconds).toBe(seconds);
  });

  it("keeps the status of the framework's own refusals (413, 415, a failed schema) as invalid input", () => {
    expect(toHttpFailure({ statusCode: 413, message: "too large" }, "req-1", "POST /rerank")).toEqual({
      status: 413,
      kind: "invalid",
      message: "too large",
    });
  });

  it("answers anything else 500 naming only the request id, and logs its stack under that id", () => {
    const logged: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((line) => logged.push(String(line)) > 0);
    const failure = toHttpFailure(new Error("secret at /srv/app"), "req-42", "POST /v1/rerank");
    expect(failure).toEqual({ status: 500, kind: "internal", message: "internal error (request id req-42)" });
    expect(JSON.parse(logged.join(""))).toMatchObject({ level: "error", requestId: "req-42", method: "POST /v1/rerank" });
  });
});

describe("teiFailure", () => {
  it.each(EXPECTED)("'%s' has TEI's error_type", (kind, status, errorType) => {
    const failure = teiFailure(new GatewayError(kind, "x"), "req-1", "POST /rerank");
    expect(failure.errorType).toBe(errorType);
    // TEI answers invalid input with 422; every other kind keeps its status.
    expect(failure.status).toBe(kind === "invalid" ? 422 : status);
  });

  it("a failed schema is 422, an empty texts (minItems) 400 Empty, malformed JSON and a large body keep 400 and 413", () => {
    const schema = (keyword: string) => ({ statusCode: 400, message: "body.x is wrong", validation: [{ keyword }] });
    expect(teiFailure(schema("type"), "r", "POST /rerank")).toMatchObject({ status: 422, errorType: "Validation" });
    expect(teiFailure(schema("minItems"), "r", "POST /rerank")).toMatchObject({
      status: 400,
      errorType: "Empty",
      message: "`texts` cannot be empty",
    });
    expect(teiFailure({ statusCode: 400, message: "not JSON" }, "r", "POST /rerank")).toMatchObject({ status: 400 });
    expect(teiFailure({ statusCode: 413, message: "too large" }, "r", "POST /rerank")).toMatchObject({ status: 413 });
  });
});
