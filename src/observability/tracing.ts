/**
 * OpenTelemetry traces: a span per request with children for each stage, exported over OTLP as the standard
 * OTEL_* variables say, and off (the API's no-op tracer) unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER is
 * set. Spans are explicit: each request carries its trace in RequestContext.trace, so no layer relies on an ambient
 * async context.
 */
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
} from "@opentelemetry/api";
import { NodeSDK } from "@opentelemetry/sdk-node";
import type { RequestContext } from "../context.js";

const tracer = trace.getTracer("rerank-gateway");

/** Starts the SDK when the environment asks for traces; returns how to flush and stop it (nothing when off). */
export function startTracing(env: NodeJS.ProcessEnv = process.env): (() => Promise<void>) | undefined {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_TRACES_EXPORTER) return undefined;
  // The gateway serves its metrics to Prometheus and its logs on stderr; only traces go over OTLP unless asked.
  env.OTEL_METRICS_EXPORTER ??= "none";
  env.OTEL_LOGS_EXPORTER ??= "none";
  const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME ?? "rerank-gateway" });
  sdk.start();
  return () => sdk.shutdown();
}

/** The trace a client's W3C traceparent / tracestate continue (the root when there is none or tracing is off). */
export function extractTrace<Carrier>(carrier: Carrier, getter?: TextMapGetter<Carrier>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier, getter);
}

/** Writes the W3C traceparent / tracestate of `context`'s current span into `carrier`. */
export function injectTrace(context: RequestContext, carrier: Record<string, string>): Record<string, string> {
  propagation.inject(context.trace, carrier);
  return carrier;
}

/** The ids a log line of this request carries, so that logs and traces join. */
export function traceIds(context: RequestContext): { trace_id?: string; span_id?: string } {
  const span = trace.getSpanContext(context.trace);
  return span && trace.isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

/** A child span of `context`'s current span, for work that does not fit inSpan; end it with endSpan. */
export function startSpan(
  name: string,
  context: RequestContext,
  attributes: Attributes,
  kind: SpanKind = SpanKind.INTERNAL,
): Span {
  return tracer.startSpan(name, { attributes, kind }, context.trace);
}

/** Ends `span` with these last attributes, as failed when `error` is given; a span already ended stays as it was. */
export function endSpan(span: Span, attributes: Attributes = {}, error?: unknown): void {
  if (!span.isRecording()) return;
  span.setAttributes(attributes);
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}

/**
 * Runs `work` in a child span of `context`'s current span, handing it a context whose trace is that span; a thrown
 * error (or rejected promise) ends the span with an error status. Works for synchronous and asynchronous work.
 */
export function inSpan<T>(
  name: string,
  context: RequestContext,
  attributes: Attributes,
  work: (context: RequestContext, span: Span) => T,
  kind: SpanKind = SpanKind.INTERNAL,
): T {
  const span = startSpan(name, context, attributes, kind);
  const failed = (error: unknown) => {
    endSpan(span, {}, error);
    throw error;
  };
  try {
    const result = work({ ...context, trace: trace.setSpan(context.trace, span) }, span);
    if (!(result instanceof Promise)) {
      endSpan(span);
      return result;
    }
    return result.then((value: unknown) => {
      endSpan(span);
      return value;
    }, failed) as T;
  } catch (error) {
    return failed(error);
  }
}

export { SpanKind, type Span };
