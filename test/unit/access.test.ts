import { describe, expect, it } from "vitest";
import { hashKey, type ApiKeyEntry } from "../../src/api/auth/api-keys.js";
import { Access, presentedKey, type HeaderReader } from "../../src/api/auth/access.js";
import { GatewayError } from "../../src/errors.js";
import { GatewayMetrics } from "../../src/observability/metrics.js";
import { metricSeries } from "./fakes.js";

const KEYS = { open: "rk_open-key", small: "rk_small-key" };
const ENTRIES: ApiKeyEntry[] = [
  { name: "open", sha256: hashKey(KEYS.open) },
  { name: "small", sha256: hashKey(KEYS.small), pairsPerSecond: 2, burst: 6 },
];

const headers =
  (sent: Record<string, string>): HeaderReader =>
  (name) =>
    sent[name];
const bearer = (key: string) => headers({ authorization: `Bearer ${key}` });

/** An Access on ENTRIES (undefined: keys off) and a clock the test moves by hand. */
function setUp(entries: ApiKeyEntry[] | undefined) {
  let now = 0;
  const metrics = new GatewayMetrics();
  const access = new Access(metrics, entries, () => now);
  return { access, metrics, advance: (ms: number) => (now += ms) };
}

/** The GatewayError `work` fails with. */
async function failure(work: () => unknown): Promise<GatewayError> {
  try {
    await work();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error("expected a GatewayError, it succeeded");
}

const ok = () => Promise.resolve("scored");

describe("presentedKey", () => {
  it.each([
    [{ authorization: "Bearer k1" }, "k1"],
    [{ authorization: "bearer k1" }, "k1"],
    [{ "x-api-key": "k1" }, "k1"],
    [{ authorization: "Bearer k1", "x-api-key": "k1" }, "k1"],
  ])("takes the key of %o", (sent, key) => {
    expect(presentedKey(headers(sent))).toBe(key);
  });

  it.each([
    [{}, 'an API key is required: send "authorization: Bearer <key>" or "x-api-key: <key>"'],
    [{ "x-api-key": "" }, "an API key is required"],
    [{ authorization: "Basic dXNlcjpwdw==" }, 'the authorization header must be "Bearer <API key>"'],
    [{ authorization: "Bearer" }, 'the authorization header must be "Bearer <API key>"'],
    [{ authorization: "Bearer k1", "x-api-key": "k2" }, "authorization and x-api-key carry different keys: send one"],
  ])("refuses %o as unauthenticated", async (sent, message) => {
    const error = await failure(() => presentedKey(headers(sent)));
    expect(error.kind).toBe("unauthenticated");
    expect(error.message).toContain(message);
  });
});

describe("Access", () => {
  it("with keys off lets every request through, counted by no key", async () => {
    const { access, metrics } = setUp(undefined);
    expect(access.enabled).toBe(false);
    const caller = access.authenticate(headers({}), "grpc");
    expect(caller).toBeUndefined();
    expect(await access.rerank(caller, 10_000, ok)).toBe("scored");
    expect(await metricSeries(metrics.requestsByKey)).toEqual({});
  });

  it("names the caller by its key's name; an unknown key is refused without being echoed, and counted", async () => {
    const { access, metrics } = setUp(ENTRIES);
    expect(access.authenticate(bearer(KEYS.open), "grpc")).toEqual({ name: "open" });
    expect(access.authenticate(headers({ "x-api-key": KEYS.small }), "http")).toEqual({ name: "small" });
    const wrongKey = "rk_not-a-key-of-this-gateway";
    const error = await failure(() => access.authenticate(bearer(wrongKey), "http"));
    expect(error).toMatchObject({ kind: "unauthenticated", message: "the API key is not valid" });
    await failure(() => access.authenticate(headers({}), "grpc"));
    expect(await metricSeries(metrics.unauthenticated)).toEqual({ "api=http": 1, "api=grpc": 1 });
  });

  it("charges a request's pairs to its key: over the quota it is overloaded with the wait as retry hint", async () => {
    const { access, metrics, advance } = setUp(ENTRIES);
    const small = access.authenticate(bearer(KEYS.small), "grpc");
    expect(await access.rerank(small, 6, ok)).toBe("scored");
    const refused = await failure(() => access.rerank(small, 1, ok));
    expect(refused).toMatchObject({
      kind: "overloaded",
      retryAfterMs: 500,
      message: "over API key small's quota of 2 pairs per second (burst 6): retry in 500 ms",
    });
    advance(500);
    expect(await access.rerank(small, 1, ok)).toBe("scored");
    expect(await metricSeries(metrics.quotaRejections)).toEqual({ "key=small": 1 });
    expect(await metricSeries(metrics.requestsByKey)).toEqual({
      "key=small,code=OK": 2,
      "key=small,code=RESOURCE_EXHAUSTED": 1,
    });
  });

  it("refuses a request larger than the key's burst as invalid, naming the limit, without taking from the bucket", async () => {
    const { access } = setUp(ENTRIES);
    const small = access.authenticate(bearer(KEYS.small), "grpc");
    const refused = await failure(() => access.rerank(small, 7, ok));
    expect(refused).toMatchObject({
      kind: "invalid",
      message: "the request has 7 documents, more than API key small's quota of 2 pairs per second (burst 6) allows at once",
    });
    expect(await access.rerank(small, 6, ok)).toBe("scored");
  });

  it("keeps other keys' quotas apart, and a key without a quota has none", async () => {
    const { access } = setUp(ENTRIES);
    const small = access.authenticate(bearer(KEYS.small), "grpc");
    const open = access.authenticate(bearer(KEYS.open), "grpc");
    await access.rerank(small, 6, ok);
    await failure(() => access.rerank(small, 1, ok));
    for (let i = 0; i < 5; i++) expect(await access.rerank(open, 1000, ok)).toBe("scored");
  });

  it("counts the work's failures under their status", async () => {
    const { access, metrics } = setUp(ENTRIES);
    const open = access.authenticate(bearer(KEYS.open), "grpc");
    await failure(() => access.rerank(open, 1, () => Promise.reject(new GatewayError("not_found", "no model x"))));
    expect(await metricSeries(metrics.requestsByKey)).toEqual({ "key=open,code=NOT_FOUND": 1 });
  });

  it("a reload refuses removed keys, accepts added ones, and keeps an unchanged quota's bucket as it was", async () => {
    const { access } = setUp(ENTRIES);
    const small = access.authenticate(bearer(KEYS.small), "grpc");
    await access.rerank(small, 6, ok);
    const added = "rk_added-key";
    access.setKeys([ENTRIES[1]!, { name: "added", sha256: hashKey(added) }]);
    expect(access.keyCount).toBe(2);
    expect((await failure(() => access.authenticate(bearer(KEYS.open), "grpc"))).kind).toBe("unauthenticated");
    expect(access.authenticate(bearer(added), "grpc")).toEqual({ name: "added" });
    // Still empty: reloading the file refills nobody's quota.
    expect((await failure(() => access.rerank(small, 1, ok))).kind).toBe("overloaded");
    // A new quota is a new, full bucket.
    access.setKeys([{ ...ENTRIES[1]!, burst: 8 }]);
    expect(await access.rerank(small, 8, ok)).toBe("scored");
  });
});
