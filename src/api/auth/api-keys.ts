/**
 * API keys as the keys file (RERANK_API_KEYS_FILE) holds them: one entry per key, with its holder's name, the
 * SHA-256 of the key (never the key) and its quota.
 *
 *   {
 *     "keys": [
 *       {"name": "search-frontend", "sha256": "<64 hex digits>", "pairs_per_second": 200, "burst": 1000}
 *     ]
 *   }
 *
 * A plain SHA-256 is enough because a key is 32 random bytes: no guess can find it from its hash, and checking a
 * request costs one hash, where a password hash (scrypt, bcrypt) would add milliseconds to every request.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface ApiKeyEntry {
  /** Who holds the key: what metrics, logs and errors name, never the key. */
  name: string;
  /** SHA-256 of the key, lower-case hex. */
  sha256: string;
  /** The key's quota in (query, document) pairs per second; absent: no quota. */
  pairsPerSecond?: number;
  /** Most pairs the key may send at once (its bucket's size); absent: one second's worth. */
  burst?: number;
}

/** Most pairs the key may send at once: its burst, by default one second's worth; undefined without a quota. */
export function burstOf({ pairsPerSecond, burst }: ApiKeyEntry): number | undefined {
  return pairsPerSecond === undefined ? undefined : (burst ?? Math.ceil(pairsPerSecond));
}

/** Names are metric labels: short, and nothing a label or a log line would need to escape. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const ENTRY_FIELDS = new Set(["name", "sha256", "pairs_per_second", "burst"]);

/** The prefix of generated keys, so that a leaked key is recognisable in a secret scanner's rules. */
const KEY_PREFIX = "rk_";

export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

const digestOf = (key: string): Buffer => createHash("sha256").update(key, "utf8").digest();

/** What the keys file stores of a key. */
export function hashKey(key: string): string {
  return digestOf(key).toString("hex");
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** One entry of the file, checked field by field; errors name the entry and the field, never a value. */
function parseEntry(raw: unknown, index: number): ApiKeyEntry {
  const where = `keys[${index}]`;
  if (!isObject(raw)) throw new Error(`${where} must be an object`);
  const unknown = Object.keys(raw).filter((field) => !ENTRY_FIELDS.has(field));
  if (unknown.length > 0) throw new Error(`${where} has unknown fields: ${unknown.join(", ")}`);
  const { name, sha256, pairs_per_second: pairsPerSecond, burst } = raw;
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new Error(`${where}.name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256)) {
    throw new Error(`${where} (${name}): sha256 must be 64 lower-case hex digits`);
  }
  if (
    pairsPerSecond !== undefined &&
    (typeof pairsPerSecond !== "number" || !(pairsPerSecond > 0) || !isFinite(pairsPerSecond))
  ) {
    throw new Error(`${where} (${name}): pairs_per_second must be a number > 0`);
  }
  if (burst !== undefined) {
    if (pairsPerSecond === undefined) throw new Error(`${where} (${name}): burst needs pairs_per_second`);
    if (!Number.isInteger(burst) || (burst as number) < 1) throw new Error(`${where} (${name}): burst must be an integer >= 1`);
  }
  return { name, sha256, pairsPerSecond, burst: burst as number | undefined };
}

/** The entries of a keys file; throws naming what is wrong (names must be unique, and so must hashes). */
export function parseKeysFile(text: string): ApiKeyEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault: say only that it failed.
    throw new Error('not valid JSON: expected {"keys": [...]}');
  }
  if (!isObject(parsed) || !Array.isArray(parsed.keys) || Object.keys(parsed).length !== 1) {
    throw new Error('expected {"keys": [...]} and nothing else');
  }
  const entries = parsed.keys.map(parseEntry);
  const [names, hashes] = [new Set<string>(), new Set<string>()];
  for (const { name, sha256 } of entries) {
    if (names.has(name)) throw new Error(`the name ${name} is used twice`);
    if (hashes.has(sha256)) throw new Error(`${name} has the same key as an entry before it`);
    names.add(name);
    hashes.add(sha256);
  }
  return entries;
}

/** The file's text for `entries`: one key per line, so that a diff shows which key changed. */
export function formatKeysFile(entries: ApiKeyEntry[]): string {
  const lines = entries.map(({ name, sha256, pairsPerSecond, burst }) =>
    JSON.stringify({ name, sha256, pairs_per_second: pairsPerSecond, burst }),
  );
  return `{\n  "keys": [\n${lines.map((line) => `    ${line}`).join(",\n")}\n  ]\n}\n`;
}

/** The keys the gateway accepts, found by a request's key in constant time. */
export class KeyRing {
  private readonly digests: { entry: ApiKeyEntry; digest: Buffer }[];

  constructor(readonly entries: readonly ApiKeyEntry[]) {
    this.digests = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, "hex") }));
  }

  /**
   * The entry of `key`, or undefined. The key's hash is compared with every entry's, each in constant time and
   * without stopping at a match, so that the time taken says nothing about which bytes of which hash matched.
   */
  find(key: string): ApiKeyEntry | undefined {
    const digest = digestOf(key);
    let found: ApiKeyEntry | undefined;
    for (const candidate of this.digests) {
      if (timingSafeEqual(candidate.digest, digest)) found = candidate.entry;
    }
    return found;
  }
}
