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
