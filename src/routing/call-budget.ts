import type { RoutingSettings } from "../catalog/registry.js";
import type { CallBudget, CallTicket } from "../pipeline/scorer.js";

/** Weight of the newest observation in the learned cost (an exponential moving average). */
const LEARNING_RATE = 0.2;
/** Calls the learned cost needs before it replaces the configured one. */
const WARM_UP_CALLS = 5;

/**
 * How long one Triton call of a model may take, judged by its work: a call is slow relative to the padded cells it
 * carries plus the cells this gateway already has in flight on the same model (they are queued ahead of it in
 * Triton) and those sent together with it (Triton may run them in the same execution), at the model's cost per cell. The cost is configured per model (routing.msPerKiloCell) and learned from
 * calls that came back within their budget, so a budget fits a CPU and an H100, 6 documents and 1000, 20-token and
 * 256-token passages. A call that runs past its budget is the model's fault; time the request spent tokenizing or
 * waiting inside the gateway is never on the clock.
 */
export class WorkBudget implements CallBudget {
  private cellsInFlight = 0;
  private learnedMsPerCell: number | undefined;
  private observations = 0;

  constructor(private readonly settings: RoutingSettings) {}

  /** The cost per padded cell the next budget uses: learned once warmed up, else the configured one. */
  get msPerCell(): number {
    return this.observations >= WARM_UP_CALLS && this.learnedMsPerCell !== undefined
      ? this.learnedMsPerCell
      : this.settings.msPerKiloCell / 1000;
  }

  begin(cells: number, alongside = 0): CallTicket {
    this.cellsInFlight += cells;
    const cellsAhead = this.cellsInFlight + alongside;
    const budgetMs = this.settings.latencyBudgetMs + this.settings.budgetSlack * this.msPerCell * cellsAhead;
    let open = true;
    return {
      budgetMs,
      end: (elapsedMs, withinBudget) => {
        if (!open) return;
        open = false;
        this.cellsInFlight -= cells;
        if (withinBudget) this.learn(elapsedMs / cellsAhead);
      },
    };
  }

  private learn(msPerCell: number): void {
    this.learnedMsPerCell =
      this.learnedMsPerCell === undefined
        ? msPerCell
        : this.learnedMsPerCell + LEARNING_RATE * (msPerCell - this.learnedMsPerCell);
    this.observations++;
  }
}
