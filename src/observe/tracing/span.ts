/**
 * A started span and what the data paths need of it: its context for children and for the wire, attributes,
 * and an end that happens once. Built by the tracer (`tracer.ts`); the spans' parent-child rules are there.
 */
import type { Context, Span } from "@opentelemetry/api";
import type { TraceCarrier } from "../../mcp/trace_context.ts";
import type { GatewayTracer } from "./tracer.ts";

/** Why an operation failed, as the conventions record it: `error.type` and the status description. */
export interface SpanError {
  type: string;
  message?: string;
}

/** Something spans can be started under: a span's context, and the tracer that made it. */
export interface SpanParent {
  readonly tracer: GatewayTracer;
  readonly context: Context;
}

/** Milliseconds since the epoch, at sub-millisecond precision: span start and end times. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A started span, with what children and the wire need of it. */
export class OpenSpan implements SpanParent {
  #context: Context | undefined;
  #ended = false;

  constructor(readonly tracer: GatewayTracer, private readonly parent: Context, readonly span: Span) {}

  /** The span's context (made when first asked: most spans have no children and send nothing on). */
  get context(): Context {
    return this.#context ??= this.tracer.contextWith(this.parent, this.span);
  }

  /** What to send on so the next hop continues under this span. */
  carrier(): TraceCarrier {
    return this.tracer.carrier(this.context);
  }

  set(key: string, value: string | number | boolean | string[] | undefined): void {
    if (value !== undefined) this.span.setAttribute(key, value);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Ends the span once (later calls do nothing). */
  end(error?: SpanError, endTime?: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.tracer.endSpan(this.span, error, endTime);
  }
}
