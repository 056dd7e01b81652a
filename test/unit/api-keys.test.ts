import * as crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it, vi } from "vitest";
import { formatKeysFile, generateKey, hashKey, KeyRing, parseKeysFile, type ApiKeyEntry } from "../../src/api/auth/api-keys.js";

vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});
afterEach(() => vi.mocked(crypto.timingSafeEqual).mockClear());

const HASH_A = "a".repeat(64);
const HASH_B = "b".repeat(64);
const file = (keys: unknown[]) => JSON.stringify({ keys });

describe("hashKey and generateKey", () => {
  it("hashes as sha256sum does", () => {
    const key = generateKey();
    const reference = execFileSync("sha256sum", { input: key }).toString().split(" ")[0];
    expect(hashKey(key)).toBe(reference);
  });

  it("makes keys of 32 random bytes, base64url after the rk_ prefix, never the same twice", () => {
    const keys = Array.from({ length: 100 }, generateKey);
    for (const key of keys) expect(key).toMatch(/^rk_[A-Za-z0-9_-]{43}$/);
    expect(new Set(keys).size).toBe(100);
  });
});

describe("parseKeysFile", () => {
  it("reads names, hashes and quotas, and formatKeysFile writes what it reads", () => {
    const entries: ApiKeyEntry[] = [
      { name: "search-frontend", sha256: HASH_A, pairsPerSecond: 200, burst: 1000 },
      { name: "batch.jobs_2", sha256: HASH_B, pairsPerSecond: undefined, burst: undefined },
    ];
    const text = formatKeysFile(entries);
    expect(parseKeysFile(text)).toEqual(entries);
    // One key per line, so that a diff shows the key that changed.
    expect(text.split("\n").filter((line) => line.includes('"sha256"'))).toHaveLength(2);
  });

  it.each([
    ["{", 'not valid JSON: expected {"keys": [...]}'],
    [JSON.stringify({ key: [] }), 'expected {"keys": [...]} and nothing else'],
    [JSON.stringify({ keys: [], extra: 1 }), 'expected {"keys": [...]} and nothing else'],
    [file(["x"]), "keys[0] must be an object"],
    [file([{ name: "a", sha256: HASH_A, pairs: 1 }]), "keys[0] has unknown fields: pairs"],
    [file([{ name: "has space", sha256: HASH_A }]), "keys[0].name must be 1-64 letters"],
    [file([{ name: "-dash-first", sha256: HASH_A }]), "keys[0].name must be 1-64 letters"],
    [file([{ name: "a", sha256: "A".repeat(64) }]), "keys[0] (a): sha256 must be 64 lower-case hex digits"],
    [file([{ name: "a", sha256: HASH_A.slice(1) }]), "keys[0] (a): sha256 must be 64 lower-case hex digits"],
    [file([{ name: "a", sha256: HASH_A, pairs_per_second: 0 }]), "keys[0] (a): pairs_per_second must be a number > 0"],
    [file([{ name: "a", sha256: HASH_A, pairs_per_second: "5" }]), "keys[0] (a): pairs_per_second must be a number > 0"],
    [file([{ name: "a", sha256: HASH_A, burst: 5 }]), "keys[0] (a): burst needs pairs_per_second"],
    [file([{ name: "a", sha256: HASH_A, pairs_per_second: 5, burst: 2.5 }]), "keys[0] (a): burst must be an integer >= 1"],
    [
      file([
        { name: "a", sha256: HASH_A },
        { name: "a", sha256: HASH_B },
      ]),
      "the name a is used twice",
    ],
    [
      file([
        { name: "a", sha256: HASH_A },
        { name: "b", sha256: HASH_A },
      ]),
      "b has the same key as an entry before it",
    ],
  ])("refuses %s: %s", (text, message) => {
    expect(() => parseKeysFile(text)).toThrow(message);
  });

  it("never quotes the file in its errors (a key pasted by mistake stays out of the logs)", () => {
    const key = generateKey();
    const refusal = (text: string) => {
      try {
        parseKeysFile(text);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error("parsed a file it should refuse");
    };
    for (const text of [`{"keys": [${key}]}`, file([{ name: "a", sha256: key }]), file([{ name: `${key}!`, sha256: HASH_A }])]) {
      expect(refusal(text)).not.toContain(key);
    }
  });
});

describe("KeyRing", () => {
  const keys = [generateKey(), generateKey(), generateKey()];
  const ring = new KeyRing(keys.map((key, index) => ({ name: `key-${index}`, sha256: hashKey(key) })));

  it("finds the entry of each key, and none for an unknown key or a near miss", () => {
    keys.forEach((key, index) => expect(ring.find(key)?.name).toBe(`key-${index}`));
    expect(ring.find(generateKey())).toBeUndefined();
    expect(ring.find(keys[0]!.slice(0, -1))).toBeUndefined();
    expect(ring.find("")).toBeUndefined();
  });

  it("compares with every entry in constant time, also when the first one matches", () => {
    ring.find(keys[0]!);
    expect(crypto.timingSafeEqual).toHaveBeenCalledTimes(keys.length);
  });
});
