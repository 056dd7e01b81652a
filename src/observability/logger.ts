/**
 * Structured one-line JSON logs on stderr (pino): level, time, msg and the caller's fields; a line written for a
 * request also carries its request_id, trace_id and span_id, so that logs join the request's trace.
 */
import { pino } from "pino";
import type { RequestContext } from "../context.js";
import { traceIds } from "./tracing.js";

const LEVELS = ["debug", "info", "warn", "error"] as const;
type Level = (typeof LEVELS)[number];

function levelOf(asked = "info"): Level {
  if (LEVELS.includes(asked as Level)) return asked as Level;
  throw new Error(`RERANK_LOG_LEVEL must be one of ${LEVELS.join(", ")}, got "${asked}"`);
}

const logger = pino(
  {
    level: levelOf(process.env.RERANK_LOG_LEVEL),
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  // process.stderr writes synchronously to files and pipes, so the line before a process.exit is not lost.
  process.stderr,
);

function write(level: Level, message: string, fields: Record<string, unknown> = {}, request?: RequestContext): void {
  if (!logger.isLevelEnabled(level)) return;
  const ids = request ? { request_id: request.requestId, ...traceIds(request) } : {};
  logger[level]({ ...ids, ...fields }, message);
}

/** `request`, where the caller has one, adds the request's and its trace's ids to the line. */
export const log = Object.fromEntries(
  LEVELS.map((level) => [
    level,
    (message: string, fields?: Record<string, unknown>, request?: RequestContext) => write(level, message, fields, request),
  ]),
) as Record<Level, (message: string, fields?: Record<string, unknown>, request?: RequestContext) => void>;
