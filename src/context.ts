import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { ROOT_CONTEXT, type Context } from "@opentelemetry/api";
import { GatewayError } from "./errors.js";

/**
 * What every layer knows about the request it works for, built once at the edge: who it is (for logs), until when
 * it may run, and a signal that aborts on the client's cancel and at the deadline, with a GatewayError as reason.
 */
export interface RequestContext {
  readonly requestId: string;
  /** Epoch milliseconds; the hard bound of every stage and every Triton call. */
  readonly deadline: number;
  readonly signal: AbortSignal;
  /** What the request is doing now, shared by every scope of it: a deadline names the stage it ran out in. */
  readonly progress: { stage: string };
  /** The OpenTelemetry context whose span is the parent of the next stage's spans (the client's, at the edge). */
  readonly trace: Context;
}

export interface ContextScope {
  readonly context: RequestContext;
  /** Aborts the context as cancelled by the client. */
  cancel(): void;
  /** Releases the deadline timer; call when the request is answered. */
  close(): void;
}

/** A context whose signal fires at `deadline` (timeout) or on cancel(). */
export function openContext(options: { deadline: number; requestId?: string; trace?: Context }): ContextScope {
  const requestId = options.requestId || randomUUID();
  const controller = new AbortController();
  // A 1000-document request sends dozens of concurrent Triton batches, each listening on this signal.
  setMaxListeners(0, controller.signal);
  const progress = { stage: "waiting to start" };
  const timer = setTimeout(
    () => controller.abort(new GatewayError("timeout", `the request's deadline passed while ${progress.stage}`)),
    Math.max(0, options.deadline - Date.now()),
  );
  timer.unref();
  return {
    context: { requestId, deadline: options.deadline, signal: controller.signal, progress, trace: options.trace ?? ROOT_CONTEXT },
    cancel: () => controller.abort(new GatewayError("cancelled", "the client cancelled the call")),
    close: () => clearTimeout(timer),
  };
}

/** A narrower scope of `context`: also aborted when `signal` fires (a latency budget, a failed sibling batch). */
export function withSignal(context: RequestContext, signal: AbortSignal): RequestContext {
  const combined = AbortSignal.any([context.signal, signal]);
  setMaxListeners(0, combined);
  return { ...context, signal: combined };
}

export function remainingMs(context: RequestContext): number {
  return context.deadline - Date.now();
}

/** The domain error an aborted context stands for: its own reason when that is one, else a cancellation. */
export function abortError(context: RequestContext): GatewayError {
  const reason: unknown = context.signal.reason;
  return reason instanceof GatewayError ? reason : new GatewayError("cancelled", "the request was cancelled");
}

/** Runs background work (polling, start-up checks) in a fresh context that times out after `timeoutMs`. */
export async function withTimeout<T>(timeoutMs: number, work: (context: RequestContext) => Promise<T>): Promise<T> {
  const scope = openContext({ deadline: Date.now() + timeoutMs });
  try {
    return await work(scope.context);
  } finally {
    scope.close();
  }
}
