import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { AutoInstrumentation } from '../../schemas/config.schema.ts';
import { enableAutoInstrumentation } from './auto-instrumentation.ts';

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
 * Registers the global tracer and meter providers. Instrumentation in the code only uses
 * `@opentelemetry/api`, so without this call every span and metric is a no-op.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const resource = resourceFromAttributes({ 'service.name': options.serviceName });
  const spanProcessors: SpanProcessor[] = [];
  if (options.spanExporter) spanProcessors.push(new SimpleSpanProcessor({ exporter: options.spanExporter }));
  if (options.otlpEndpoint)
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${options.otlpEndpoint}/v1/traces` }),
      }),
    );
  const tracerProvider = new TracerProvider({ resource, spanProcessors });

  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);

  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: MetricReader[] = [prometheus as unknown as MetricReader];
  if (options.otlpEndpoint) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${options.otlpEndpoint}/v1/metrics` }),
        exportIntervalMillis: 15_000,
      }),
    );
  }
  const meterProvider = new MeterProvider({ resource, readers });
  metrics.setGlobalMeterProvider(meterProvider);
  const serializer = new PrometheusSerializer();
  const disableAutoInstrumentation =
    spanProcessors.length > 0 && options.autoInstrument?.length
      ? enableAutoInstrumentation(options.autoInstrument, { tracerProvider, meterProvider })
      : () => undefined;

  return {
    async prometheusText() {
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics as never);
    },
    async shutdown() {
      disableAutoInstrumentation();
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}
