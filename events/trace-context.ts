import { type Context, context, propagation } from '@opentelemetry/api';

/** The active span's W3C `traceparent`, to carry in event metadata and queue messages. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a `traceparent` continues (the active one when absent). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  return traceparent ? propagation.extract(context.active(), { traceparent }) : context.active();
}
