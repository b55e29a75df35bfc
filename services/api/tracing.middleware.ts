import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import type { MiddlewareHandler } from 'hono';

/**
 * One span per request, continuing the caller's `traceparent`. Handlers run inside it, so the
 * events they append carry its context onward to the dispatcher and the worker. Under the HTTP
 * auto-instrumentation it nests in that server span and names the route for it.
 */
export function tracing(): MiddlewareHandler {
  const tracer = trace.getTracer('omni-api');
  return async (c, next) => {
    const httpSpan = trace.getSpan(context.active());
    const parent = httpSpan
      ? context.active()
      : propagation.extract(context.active(), Object.fromEntries(c.req.raw.headers));
    await tracer.startActiveSpan(
      `${c.req.method} ${c.req.path}`,
      {
        kind: httpSpan ? SpanKind.INTERNAL : SpanKind.SERVER,
        attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path },
      },
      parent,
      async (span) => {
        try {
          await next();
          span.updateName(`${c.req.method} ${c.req.routePath}`);
          span.setAttributes({ 'http.route': c.req.routePath, 'http.response.status_code': c.res.status });
          if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          const rpc = getRPCMetadata(parent);
          if (rpc?.type === RPCType.HTTP) rpc.route = c.req.routePath;
        } finally {
          span.end();
        }
      },
    );
  };
}
