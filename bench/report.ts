/** What one `npm run bench` found, checked against the goals and drawn as an SVG chart. */
import { renderChart, type Panel, type Series } from "./chart.js";
import type { HeadOfLineResult } from "./head-of-line.js";
import type { LatencyRow } from "./latency.js";
import type { MixedStep } from "./mixed.js";
import { formatNumber, printTable } from "./stats.js";

export interface BenchResults {
  latency?: LatencyRow[];
  concurrency?: MixedStep[];
  headOfLine?: HeadOfLineResult;
}

interface Goal {
  goal: string;
  measured: string;
  met: boolean | null;
}

function latencyGoals(rows: readonly LatencyRow[]): Goal[] {
  return rows
    .filter((row) => row.documents === 100)
    .flatMap((row) => [
      { goal: `${row.model}: gateway / Triton p50 at 100 docs, cold <= 1.25`, value: row.ratioCold, limit: 1.25 },
      { goal: `${row.model}: gateway / Triton p50 at 100 docs, warm <= 1.10`, value: row.ratioWarm, limit: 1.1 },
    ])
    .map(({ goal, value, limit }) => ({ goal, measured: formatNumber(value), met: Number.isNaN(value) ? null : value <= limit }));
}

function concurrencyGoals(steps: readonly MixedStep[]): Goal[] {
  const last = steps[steps.length - 1];
  if (!last) return [];
  const perExecution = steps.map((step) => step.server.requestsPerExecution);
  const known = perExecution.filter((value): value is number => value !== null);
  const efficiency = last.server.paddingEfficiency;
  return [
    {
      goal: `padding efficiency at ${last.concurrency} clients >= 0.85`,
      measured: formatNumber(efficiency),
      met: efficiency === null ? null : efficiency >= 0.85,
    },
    {
      goal: `Triton requests per execution at ${last.concurrency} clients > 1`,
      measured: formatNumber(last.server.requestsPerExecution),
      met: last.server.requestsPerExecution === null ? null : last.server.requestsPerExecution > 1,
    },
    {
      goal: `requests per execution rise with concurrency (${steps.map((step) => step.concurrency).join(", ")})`,
      measured: perExecution.map((value) => formatNumber(value)).join(", "),
      met: known.length < 2 ? null : known.every((value, i) => i === 0 || value >= known[i - 1]!) && known.at(-1)! > known[0]!,
    },
  ];
}

export function printGoals(results: BenchResults): void {
  const goals = [
    ...latencyGoals(results.latency ?? []),
    ...concurrencyGoals(results.concurrency ?? []),
    ...(results.headOfLine
      ? [
          {
            goal: "small-request p99 with heavy documents <= 2x quiet p99",
            measured: `${formatNumber(results.headOfLine.ratioP99)}x`,
            met: Number.isNaN(results.headOfLine.ratioP99) ? null : results.headOfLine.ratioP99 <= 2,
          },
        ]
      : []),
  ];
  printTable(
    ["goal", "measured", "met"],
    goals.map(({ goal, measured, met }) => [goal, measured, met === null ? "n/a" : met ? "yes" : "NO"]),
  );
}

function concurrencyPanels(steps: readonly MixedStep[]): Panel[] {
  const xTicks = steps.map((step) => step.concurrency);
  const along = (value: (step: MixedStep) => number | null): Series["points"] =>
    steps.map((step) => [step.concurrency, value(step) ?? Number.NaN] as const);
  const model = steps[0]?.model ?? "";
  return [
    {
      title: `Mixed workload throughput (${model})`,
      xLabel: "concurrent clients",
      yLabel: "pairs per second",
      logX: true,
      xTicks,
      series: [{ name: "pairs/s", points: along((step) => step.pairsPerSecond) }],
    },
    {
      title: `Mixed workload latency (${model})`,
      xLabel: "concurrent clients",
      yLabel: "ms",
      logX: true,
      logY: true,
      xTicks,
      series: [
        { name: "p50", points: along((step) => step.latencyMs.p50) },
        { name: "p99", points: along((step) => step.latencyMs.p99), style: "dashed" },
      ],
    },
    {
      title: "Requests merged by Triton; padding",
      xLabel: "concurrent clients",
      yLabel: "ratio",
      logX: true,
      xTicks,
      series: [
        { name: "requests per execution", points: along((step) => step.server.requestsPerExecution) },
        { name: "padding efficiency", points: along((step) => step.server.paddingEfficiency), style: "dashed" },
      ],
    },
  ];
}

/** One panel per model: a line from bottom left to top right each, so the legend goes top left. */
function latencyPanels(rows: readonly LatencyRow[]): Panel[] {
  return [...new Set(rows.map((row) => row.model))].map((model) => {
    const mine = rows.filter((row) => row.model === model);
    const along = (value: (row: LatencyRow) => number) => mine.map((row) => [row.documents, value(row)] as const);
    /** A size the gateway did not answer has no point: the legend says so. */
    const unanswered = (value: (row: LatencyRow) => number) => {
      const sizes = mine.filter((row) => !Number.isFinite(value(row))).map((row) => row.documents);
      return sizes.length ? ` (no answer at ${sizes.join(", ")})` : "";
    };
    return {
      title: `Latency p50 by request size (${model})`,
      xLabel: "documents per request",
      yLabel: "ms",
      logX: true,
      logY: true,
      xTicks: mine.map((row) => row.documents),
      series: [
        { name: `gateway, cold${unanswered((row) => row.cold.p50)}`, points: along((row) => row.cold.p50) },
        {
          name: `gateway, warm${unanswered((row) => row.warm.p50)}`,
          points: along((row) => row.warm.p50),
          style: "dashed" as const,
        },
        { name: "Triton alone", points: along((row) => row.triton.p50), style: "dotted" as const },
      ],
    };
  });
}

export function chartOf(results: BenchResults, note: string): string {
  const panels = [
    ...(results.concurrency?.length ? concurrencyPanels(results.concurrency) : []),
    ...latencyPanels(results.latency ?? []),
  ];
  return renderChart("rerank-gateway benchmarks", note, panels);
}
