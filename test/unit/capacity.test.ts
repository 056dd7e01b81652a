import { describe, expect, it } from "vitest";
import { PairCapacity } from "../../src/routing/capacity.js";

describe("PairCapacity", () => {
  it("admits pairs up to the limit, refuses past it, and frees what is released", () => {
    const capacity = new PairCapacity(10);
    expect(capacity.tryAcquire(6)).toBe(true);
    expect(capacity.tryAcquire(5)).toBe(false);
    expect(capacity.tryAcquire(4)).toBe(true);
    expect(capacity.pairsInFlight).toBe(10);
    capacity.release(6);
    expect(capacity.tryAcquire(5)).toBe(true);
  });

  it("lets a request larger than the whole limit through when the model is idle, so it can ever be served", () => {
    const capacity = new PairCapacity(10);
    expect(capacity.tryAcquire(25)).toBe(true);
    expect(capacity.tryAcquire(1)).toBe(false);
    capacity.release(25);
    expect(capacity.pairsInFlight).toBe(0);
  });
});

describe("PairCapacity: a request growing (split_max windows)", () => {
  it("takes more pairs for a request that holds some when they fit, or when the request is alone", () => {
    const capacity = new PairCapacity(10);
    expect(capacity.tryAcquire(4)).toBe(true);
    expect(capacity.tryAcquire(3, 4)).toBe(true);
    expect(capacity.tryAcquire(2)).toBe(true);
    // 9 in flight, 7 of them this request's: 4 more do not fit beside the other request's 2.
    expect(capacity.tryAcquire(4, 7)).toBe(false);
    capacity.release(2);
    expect(capacity.tryAcquire(20, 7)).toBe(true);
    expect(capacity.pairsInFlight).toBe(27);
  });
});
