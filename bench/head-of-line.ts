/**
 * Head-of-line blocking: the p99 of small requests (2-10 short passages) from SMALL_CLIENTS closed-loop clients,
 * quiet (nothing else running) and loaded (HEAVY_CLIENTS other clients sending multi-megabyte documents with
 * truncate=true), in one run: quiet, loaded, then quiet again once the heavy requests in flight have answered. The
 * quiet p99 pools both quiet phases. Every document is new to the gateway, heavy ones included.
 * Heavy shape: 2 documents of 3.6 MB (7.2 MB, under the 8 MiB message limit); when the gateway refuses that
 * (INVALID_ARGUMENT, e.g. a per-document byte limit), 7 documents of 1 MB, and the refusal is reported.
 */
import { performance } from "node:perf_hooks";
import { closedLoop } from "./closed-loop.js";
import { hugeDocument, type Documents, type Fresh } from "./documents.js";
import { answerTimes, errorsByStatus, type Gateway, type Outcome } from "./gateway-client.js";
import { formatNumber, listing, pick, printTable, seededRandom, summarize, type LatencySummary } from "./stats.js";

const SMALL_CLIENTS = 4;
const HEAVY_CLIENTS = 2;
const SMALL_DEADLINE_MS = 60_000;
const HEAVY_DEADLINE_MS = 180_000;

export interface HeavyShape {
  documents: number;
  bytesPerDocument: number;
}

const HEAVY_SHAPES: readonly HeavyShape[] = [
  { documents: 2, bytesPerDocument: 3_600_000 },
  { documents: 7, bytesPerDocument: 1_000_000 },
];

interface PhaseFigures extends LatencySummary {
  seconds: number;
  errors: Record<string, number>;
}

export interface HeadOfLineResult {
  model: string;
  smallClients: number;
  heavyClients: number;
  heavy: HeavyShape & { refused: (HeavyShape & { status: string; details: string })[] };
  quiet: PhaseFigures;
  loaded: PhaseFigures;
  heavyRequests: PhaseFigures;
  /** Loaded p99 over quiet p99. */
  ratioP99: number;
}

function figures(outcomes: readonly Outcome[], seconds: number): PhaseFigures {
  return { ...summarize(answerTimes(outcomes)), seconds, errors: errorsByStatus(outcomes) };
}

export async function measureHeadOfLine(
  gateway: Gateway,
  model: string,
  documents: Documents,
  fresh: Fresh,
  { quietSeconds = 10, loadedSeconds = 20 } = {},
): Promise<HeadOfLineResult> {
  const random = seededRandom(2_024);
  const small = () =>
    gateway.send(
      {
        model,
        query: pick(random, documents.queries),
        documents: Array.from({ length: 2 + Math.floor(random() * 9) }, () => fresh.tag(pick(random, documents.short))),
        truncate: true,
        disableFallback: true,
      },
      SMALL_DEADLINE_MS,
    );
  const smallPhase = async (seconds: number) => {
    const started = performance.now();
    const outcomes = await closedLoop(SMALL_CLIENTS, started + seconds * 1000, small);
    return { outcomes, seconds: (performance.now() - started) / 1000 };
  };

  // The heavy documents: built once per shape (different passages per slot), tagged afresh for every request.
  const refused: HeadOfLineResult["heavy"]["refused"] = [];
  let shape = HEAVY_SHAPES[0]!;
  let texts: string[] = [];
  const heavy = () =>
    gateway.send(
      { model, query: pick(random, documents.queries), documents: texts.map((text) => fresh.tag(text)), truncate: true },
      HEAVY_DEADLINE_MS,
    );
  for (shape of HEAVY_SHAPES) {
    texts = Array.from({ length: shape.documents }, (_, slot) =>
      hugeDocument(documents.short, shape.bytesPerDocument, slot * 997),
    );
    const probe = await heavy();
    if (probe.ok || probe.statusName !== "INVALID_ARGUMENT") break;
    refused.push({ ...shape, status: probe.statusName, details: probe.details });
  }

  const quietBefore = await smallPhase(quietSeconds);
  const loadedStarted = performance.now();
  const stopAt = loadedStarted + loadedSeconds * 1000;
  const [loaded, heavyOutcomes] = await Promise.all([
    closedLoop(SMALL_CLIENTS, stopAt, small),
    closedLoop(HEAVY_CLIENTS, stopAt, heavy), // waits for the heavy requests in flight: the next phase is quiet
  ]);
  const loadedFor = (performance.now() - loadedStarted) / 1000;
  const quietAfter = await smallPhase(quietSeconds);
  const quiet = figures([...quietBefore.outcomes, ...quietAfter.outcomes], quietBefore.seconds + quietAfter.seconds);
  const loadedFigures = figures(loaded, loadedFor);
  return {
    model,
    smallClients: SMALL_CLIENTS,
    heavyClients: HEAVY_CLIENTS,
    heavy: { ...shape, refused },
    quiet,
    loaded: loadedFigures,
    heavyRequests: figures(heavyOutcomes, loadedFor),
    ratioP99: loadedFigures.p99 / quiet.p99,
  };
}

export function printHeadOfLine(result: HeadOfLineResult): void {
  for (const refusal of result.heavy.refused) {
    console.log(
      `heavy shape ${refusal.documents} x ${refusal.bytesPerDocument} bytes refused: ${refusal.status}: ${refusal.details}`,
    );
  }
  const { documents, bytesPerDocument } = result.heavy;
  const rows: [string, PhaseFigures, number][] = [
    ["small, quiet", result.quiet, result.smallClients],
    ["small, loaded", result.loaded, result.smallClients],
    [`heavy (${documents} x ${(bytesPerDocument / 1e6).toFixed(1)} MB)`, result.heavyRequests, result.heavyClients],
  ];
  printTable(
    ["requests", "clients", "seconds", "count", "p50 ms", "p95 ms", "p99 ms", "errors"],
    rows.map(([name, figures, clients]) => [
      name,
      String(clients),
      figures.seconds.toFixed(1),
      String(figures.count),
      figures.p50,
      figures.p95,
      figures.p99,
      listing(figures.errors),
    ]),
  );
  console.log(`small-request p99 loaded / quiet: ${formatNumber(result.ratioP99)}`);
}
