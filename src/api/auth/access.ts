/**
 * Who may call the gateway, and how much: API keys and their per-key quotas, the same for both APIs. Each edge
 * reads the request's headers through a HeaderReader, calls authenticate() before anything else, and runs a
 * rerank request through rerank(), which charges its pairs to the key's quota and counts it by key name.
 */
import { GatewayError } from "../../errors.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import type { Api } from "../reranker.js";
import { statusName } from "../status.js";
import { WatchedFiles } from "../watched-files.js";
import { burstOf, KeyRing, parseKeysFile, type ApiKeyEntry } from "./api-keys.js";
import { TokenBucket } from "./token-bucket.js";

/** The headers that may carry a key: `authorization: Bearer <key>` or `x-api-key: <key>`. */
export type HeaderReader = (name: "authorization" | "x-api-key") => string | undefined;

/** The key a request was sent with, by its name; undefined while API keys are off. */
export type Caller = { readonly name: string } | undefined;

const BEARER = /^Bearer +(\S+) *$/i;

const unauthenticated = (message: string) => new GatewayError("unauthenticated", message);

/** The key a request presents; refused when it presents none, or two different ones. Never echoes a key. */
export function presentedKey(header: HeaderReader): string {
  const authorization = header("authorization");
  const apiKey = header("x-api-key");
  const bearer = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  if (authorization !== undefined && bearer === undefined) {
    throw unauthenticated('the authorization header must be "Bearer <API key>"');
  }
  if (bearer !== undefined && apiKey !== undefined && bearer !== apiKey) {
    throw unauthenticated("authorization and x-api-key carry different keys: send one");
  }
  const key = bearer ?? apiKey;
  if (!key) throw unauthenticated('an API key is required: send "authorization: Bearer <key>" or "x-api-key: <key>"');
  return key;
}

export class Access {
  private ring: KeyRing | undefined;
  /** The token bucket of each key that has a quota, by key name. */
  private quotas = new Map<string, TokenBucket>();

  /** `keys` undefined: API keys are off and every request is let through, uncounted by key. */
  constructor(
    private readonly metrics: GatewayMetrics,
    keys: readonly ApiKeyEntry[] | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (keys) this.setKeys(keys);
  }

  get enabled(): boolean {
    return this.ring !== undefined;
  }

  get keyCount(): number {
    return this.ring?.entries.length ?? 0;
  }

  /**
   * Replaces the accepted keys (the keys file changed): a key removed is refused from the next request on, a key
   * added is accepted, and a key whose quota did not change keeps its bucket (reloading refills nobody's quota).
   */
  setKeys(keys: readonly ApiKeyEntry[]): void {
    const quotas = new Map<string, TokenBucket>();
    for (const entry of keys) {
      const { name, pairsPerSecond } = entry;
      const burst = burstOf(entry);
      if (pairsPerSecond === undefined || burst === undefined) continue;
      const kept = this.quotas.get(name);
      const unchanged = kept !== undefined && kept.ratePerSecond === pairsPerSecond && kept.capacity === burst;
      quotas.set(name, unchanged ? kept : new TokenBucket(pairsPerSecond, burst, this.now));
    }
    this.ring = new KeyRing(keys);
    this.quotas = quotas;
  }

  /** The request's caller; an "unauthenticated" error when keys are on and it presents no known key. */
  authenticate(header: HeaderReader, api: Api): Caller {
    if (!this.ring) return undefined;
    try {
      const entry = this.ring.find(presentedKey(header));
      if (!entry) throw unauthenticated("the API key is not valid");
      return { name: entry.name };
    } catch (error) {
      this.metrics.unauthenticated.inc({ api });
      throw error;
    }
  }

  /**
   * Runs `work` (a rerank of `pairs` documents) under the caller's quota and counts its outcome by key name. Over the
   * quota it is "overloaded" with the wait as retry hint; a request larger than the key's burst could never pass,
   * so it is "invalid", naming the limit.
   */
  async rerank<T>(caller: Caller, pairs: number, work: () => Promise<T>): Promise<T> {
    if (!caller) return work();
    try {
      this.charge(caller.name, pairs);
      const result = await work();
      this.metrics.requestsByKey.inc({ key: caller.name, code: "OK" });
      return result;
    } catch (error) {
      this.metrics.requestsByKey.inc({ key: caller.name, code: statusName(error) });
      throw error;
    }
  }

  private charge(name: string, pairs: number): void {
    const bucket = this.quotas.get(name);
    if (!bucket) return;
    const limit = `API key ${name}'s quota of ${bucket.ratePerSecond} pairs per second (burst ${bucket.capacity})`;
    if (pairs > bucket.capacity) {
      throw new GatewayError("invalid", `the request has ${pairs} documents, more than ${limit} allows at once`);
    }
    const waitMs = bucket.take(pairs);
    if (waitMs > 0) {
      this.metrics.quotaRejections.inc({ key: name });
      throw new GatewayError("overloaded", `over ${limit}: retry in ${waitMs} ms`, waitMs);
    }
  }
}

/**
 * The gateway's Access: open when `keysFile` is undefined, else the keys of that file, re-read while running
 * (an invalid file fails start-up; a later invalid version is logged and the keys before it stay in use).
 */
export function openAccess(keysFile: string | undefined, metrics: GatewayMetrics): { access: Access; close(): void } {
  const access = new Access(metrics, undefined);
  if (keysFile === undefined) return { access, close: () => {} };
  const watched = new WatchedFiles(
    "api_keys",
    [keysFile],
    ([text]) => access.setKeys(parseKeysFile(text!.toString("utf8"))),
    metrics,
  );
  return { access, close: () => watched.close() };
}
