import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { getBooleanFromEnv } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { AutoInstrumentation } from '../../schemas/config.schema.ts';
import { autoInstrumentation } from './auto-instrumentation.ts';

export interface TelemetryOptions {
  readonly serviceName: string;
  /** OTLP/HTTP collector base URL (e.g. http://collector:4318); traces and metrics go there when set. */
  readonly otlpEndpoint?: string;
  /** Extra span exporter, exported synchronously (tests use an in-memory one). */
  readonly spanExporter?: SpanExporter;
  /**
   * Libraries to patch so their calls become spans too (HTTP server and client, pg, ioredis).
   * Patched only when spans go somewhere: with no exporter they would cost without showing.
   */
  readonly autoInstrument?: readonly AutoInstrumentation[];
}

export interface Telemetry {
  /** Current metrics in the Prometheus text format, for `/metrics`. */
  prometheusText(): Promise<string>;
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry NodeSDK and so registers the global tracer and meter providers, the
 * context manager and the propagator. Instrumentation in the code only uses `@opentelemetry/api`,
 * so without this call every span and metric is a no-op.
 *
 * The SDK reads the standard environment itself: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
 * over the resource detected from the host and process (`OTEL_NODE_RESOURCE_DETECTORS` picks the
 * detectors), `OTEL_TRACES_SAMPLER`, span limits, `OTEL_PROPAGATORS`, `OTEL_SDK_DISABLED`; the OTLP
 * exporters read their headers and timeouts (`OTEL_EXPORTER_OTLP_HEADERS`, `..._TIMEOUT`).
 * The exporters are chosen here, not by `OTEL_TRACES_EXPORTER`/`OTEL_METRICS_EXPORTER`: `/metrics`
 * always serves Prometheus text, and nothing is sent anywhere unless a collector is configured.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const spanProcessors: SpanProcessor[] = [];
  if (options.spanExporter) spanProcessors.push(new SimpleSpanProcessor({ exporter: options.spanExporter }));
  if (options.otlpEndpoint)
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${options.otlpEndpoint}/v1/traces` }),
      }),
    );

  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const metricReaders: MetricReader[] = [prometheus as unknown as MetricReader];
  if (options.otlpEndpoint) {
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${options.otlpEndpoint}/v1/metrics` }),
        exportIntervalMillis: 15_000,
      }),
    );
  }
  const exportsSpans = spanProcessors.length > 0;
  const instrumented =
    exportsSpans && options.autoInstrument?.length ? autoInstrumentation(options.autoInstrument) : undefined;

  const sdk = new NodeSDK({
    // The lowest layer: the detectors (host, process, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES)
    // are merged over it, so an operator's service name wins over the role's.
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': options.serviceName })),
    // Given, never absent: without a list the SDK builds OTLP exporters to localhost. With no
    // exporter spans still get ids (the SDK registers a tracer only for some processor), so a job's
    // log lines share one trace_id across the API, the dispatcher and the worker, and its events
    // carry their traceparent.
    spanProcessors: exportsSpans ? spanProcessors : [new NoopSpanProcessor()],
    metricReaders,
    logRecordProcessors: [],
    instrumentations: [...(instrumented?.instrumentations ?? [])],
  });
  sdk.start();
  instrumented?.patchLoadedModules();
  // The resource (host name, process command line and owner) is left out of /metrics: no credential
  // guards that route, and a scrape names its target itself. OTLP exports carry the whole resource.
  const serializer = new PrometheusSerializer(undefined, undefined, undefined, true);
  // With the SDK disabled nothing collects: /metrics answers empty rather than failing. Read with
  // the SDK's own parser, so both agree on what counts as disabled.
  const disabled = getBooleanFromEnv('OTEL_SDK_DISABLED');

  return {
    async prometheusText() {
      if (disabled) return '';
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics as never);
    },
    async shutdown() {
      // The SDK flushes and ends its providers; the patches and the global registrations are
      // undone here, so a process (or a test file) can start telemetry again.
      for (const instrumentation of instrumented?.instrumentations ?? []) instrumentation.disable();
      await sdk.shutdown().catch(() => undefined);
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}
