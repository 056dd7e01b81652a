import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../src/api/auth/token-bucket.js";

/** A clock the test moves by hand, in milliseconds. */
function fakeClock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("TokenBucket", () => {
  it("lets a full burst through at once, then refuses with the wait until the cost has flowed in", () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(10, 30, clock.now);
    expect(bucket.take(20)).toBe(0);
    expect(bucket.take(10)).toBe(0);
    // Empty: 5 tokens at 10 per second take 500 ms.
    expect(bucket.take(5)).toBe(500);
    clock.advance(499);
    expect(bucket.take(5)).toBe(1);
    clock.advance(1);
    expect(bucket.take(5)).toBe(0);
  });

  it("refills at its rate but never past its capacity", () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(10, 30, clock.now);
    expect(bucket.take(30)).toBe(0);
    clock.advance(60_000);
    expect(bucket.take(30)).toBe(0);
    expect(bucket.take(1)).toBe(100);
  });

  it("a refused request takes nothing: a smaller one still passes", () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(2, 6, clock.now);
    expect(bucket.take(4)).toBe(0);
    expect(bucket.take(3)).toBe(500);
    expect(bucket.take(2)).toBe(0);
    expect(bucket.take(1)).toBe(500);
  });

  it("rounds a fractional wait up to the next millisecond, at fractional rates too", () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(0.3, 1, clock.now);
    expect(bucket.take(1)).toBe(0);
    expect(bucket.take(1)).toBe(3334);
    clock.advance(3334);
    expect(bucket.take(1)).toBe(0);
  });
});
