import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RoutingSettings } from "../../src/catalog/registry.js";
import { GatewayError, type ErrorKind } from "../../src/errors.js";
import { CallOverBudget } from "../../src/pipeline/scorer.js";
import { ModelBreaker, type BreakerState } from "../../src/routing/breaker.js";
import { specOf } from "./fakes.js";

// opossum reads setTimeout, setInterval and Date.now at call time, so vitest's fake timers drive its reset timer and
// rolling window: the tests step time exactly instead of sleeping.
beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

const SETTINGS: RoutingSettings = {
  ...specOf("ms-marco-minilm-l6-v2").routing,
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  rollingWindowMs: 60_000,
  resetTimeoutMs: 5_000,
};

const breakers: ModelBreaker[] = [];
afterEach(() => breakers.splice(0).forEach((breaker) => breaker.shutdown()));

function breakerWith(settings: Partial<RoutingSettings> = {}) {
  const states: BreakerState[] = [];
  const breaker = new ModelBreaker("m", { ...SETTINGS, ...settings }, (state) => states.push(state));
  breakers.push(breaker);
  let calls = 0;
  const run = (outcome: "ok" | Error) =>
    breaker
      .run(async () => {
        calls++;
        if (outcome !== "ok") throw outcome;
        return "ok";
      })
      .catch((error: unknown) => error);
  return { breaker, states, run, calls: () => calls };
}

const modelDown = () => new GatewayError("unavailable", "Triton is down");

async function opened(settings: Partial<RoutingSettings> = {}) {
  const subject = breakerWith({ volumeThreshold: 1, ...settings });
  await subject.run(modelDown());
  expect(subject.states).toEqual(["open"]);
  return subject;
}

describe("ModelBreaker", () => {
  it("stays closed below the volume threshold, however many calls fail", async () => {
    const { breaker, states, run } = breakerWith();
    for (let call = 0; call < 3; call++) await run(modelDown());
    expect(states).toEqual([]);
    expect(breaker.refusing).toBe(false);
  });

  it("opens once the window holds enough calls and the failed share crosses the threshold", async () => {
    const { breaker, states, run } = breakerWith();
    await run("ok");
    await run("ok");
    await run(modelDown());
    await run(modelDown());
    expect(states).toEqual([]); // 2 of 4 failed: 50 % is not over the 50 % threshold
    await run(modelDown());
    expect(states).toEqual(["open"]);
    expect(breaker.refusing).toBe(true);
  });

  it("refuses calls while open, without running them", async () => {
    const { run, calls } = await opened();
    const refused = await run("ok");
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ kind: "unavailable", message: "model m: circuit breaker open" });
    expect(calls()).toBe(1);
  });

  it("half-opens after resetTimeoutMs and closes when its probe succeeds", async () => {
    const { breaker, states, run } = await opened();
    vi.advanceTimersByTime(SETTINGS.resetTimeoutMs - 1);
    expect(breaker.refusing).toBe(true);
    vi.advanceTimersByTime(1);
    expect(states).toEqual(["open", "half_open"]);
    expect(breaker.refusing).toBe(false);
    expect(await run("ok")).toBe("ok");
    expect(states).toEqual(["open", "half_open", "closed"]);
    expect(breaker.refusing).toBe(false);
  });

  it("lets one probe through when half-open: others are refused until it answers, and a failed probe re-opens", async () => {
    const { breaker, states, run, calls } = await opened();
    vi.advanceTimersByTime(SETTINGS.resetTimeoutMs);
    let failProbe!: (error: Error) => void;
    const probe = breaker.run(() => new Promise((_, reject) => (failProbe = reject))).catch((error: unknown) => error);
    expect(breaker.refusing).toBe(true);
    expect(await run("ok")).toMatchObject({ message: "model m: circuit breaker open" });
    failProbe(modelDown());
    expect(await probe).toMatchObject({ message: "Triton is down" });
    expect(states).toEqual(["open", "half_open", "open"]);
    expect(breaker.refusing).toBe(true);
    expect(calls()).toBe(1);
  });

  it.each(["invalid", "not_found", "timeout", "cancelled"] as ErrorKind[])(
    "ignores request-caused '%s' errors: they never trip it",
    async (kind) => {
      const { breaker, states, run } = breakerWith({ volumeThreshold: 1 });
      for (let call = 0; call < 5; call++)
        expect(await run(new GatewayError(kind, "the request's fault"))).toMatchObject({ kind });
      expect(states).toEqual([]);
      expect(breaker.refusing).toBe(false);
    },
  );

  it.each(["unavailable", "internal"] as ErrorKind[])("counts a '%s' error as the model's failure", async (kind) => {
    const { states, run } = breakerWith({ volumeThreshold: 1 });
    await run(new GatewayError(kind, "the model's fault"));
    expect(states).toEqual(["open"]);
  });

  it("counts a Triton call that ran past its work's budget as the model's failure", async () => {
    const { states, run } = breakerWith({ volumeThreshold: 1 });
    expect(await run(new CallOverBudget("m", 250, 4_096))).toBeInstanceOf(CallOverBudget);
    expect(states).toEqual(["open"]);
  });
});
