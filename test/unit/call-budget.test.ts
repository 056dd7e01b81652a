import { describe, expect, it } from "vitest";
import type { RoutingSettings } from "../../src/catalog/registry.js";
import { WorkBudget } from "../../src/routing/call-budget.js";

const settings: RoutingSettings = {
  latencyBudgetMs: 100,
  msPerKiloCell: 10,
  budgetSlack: 4,
  errorThresholdPercentage: 50,
  volumeThreshold: 5,
  rollingWindowMs: 10_000,
  resetTimeoutMs: 5_000,
  capacityPairs: 1_000,
};

describe("WorkBudget", () => {
  it("allows the fixed part plus slack x cost per cell x the call's cells", () => {
    const budget = new WorkBudget(settings);
    const ticket = budget.begin(5_000);
    expect(ticket.budgetMs).toBe(100 + 4 * 0.01 * 5_000);
    ticket.end(10, true);
    expect(budget.begin(0).budgetMs).toBe(100);
  });

  it("counts the cells already in flight on the model: they are queued ahead of the call in Triton", () => {
    const budget = new WorkBudget(settings);
    const first = budget.begin(1_000);
    const second = budget.begin(1_000);
    expect(second.budgetMs).toBe(100 + 4 * 0.01 * 2_000);
    first.end(50, false);
    second.end(50, false);
    expect(budget.begin(1_000).budgetMs).toBe(first.budgetMs);
  });

  it("counts the cells sent together after a call: Triton may run them in the same execution", () => {
    const budget = new WorkBudget(settings);
    const first = budget.begin(1_000, 3_000);
    const last = budget.begin(3_000);
    expect(first.budgetMs).toBe(100 + 4 * 0.01 * 4_000);
    expect(last.budgetMs).toBe(first.budgetMs);
    first.end(8, false);
    last.end(8, false);
    // Learning divides by the same cells: a call sent with 3,000 more waited for all 4,000.
    for (let call = 0; call < 5; call++) budget.begin(1_000, 3_000).end(8, true);
    expect(budget.msPerCell).toBeCloseTo(0.002, 9);
  });

  it("learns the model's own cost from calls within budget, after a warm-up, and ignores failed calls", () => {
    const budget = new WorkBudget(settings);
    for (let call = 0; call < 4; call++) budget.begin(1_000).end(2, true);
    expect(budget.msPerCell).toBe(0.01); // still the configured cost during warm-up
    budget.begin(1_000).end(2, true);
    expect(budget.msPerCell).toBeCloseTo(0.002);
    budget.begin(1_000).end(60_000, false);
    expect(budget.msPerCell).toBeCloseTo(0.002);
    // A slower model is learned gradually (moving average), so a sudden stall still exceeds the budget.
    budget.begin(1_000).end(12, true);
    expect(budget.msPerCell).toBeCloseTo(0.002 + 0.2 * (0.012 - 0.002));
  });

  it("a ticket ends once", () => {
    const budget = new WorkBudget(settings);
    const ticket = budget.begin(10_000);
    ticket.end(1, false);
    ticket.end(1, false);
    expect(budget.begin(0).budgetMs).toBe(100);
  });
});
