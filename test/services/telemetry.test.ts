import { randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedApp, serveApp } from '../../services/api/serve.ts';
import { ConfigError, loadConfig } from '../../services/config.ts';
import { histogramBuckets } from '../../services/telemetry/instruments.ts';
import { observeQueue } from '../../services/telemetry/queue-metrics.ts';
import { startTelemetry, type Telemetry } from '../../services/telemetry/telemetry.ts';
import { eventually } from '../support/eventually.ts';
import { testImage } from '../support/test-image.ts';
import { startTestStack, type TestStack } from '../support/test-stack.ts';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let stack: TestStack;
let served: ServedApp;

beforeAll(async () => {
  // Before the stack, so its instruments bind to these providers. pg and ioredis are already
  // imported by now, as they are in production when telemetry starts.
  telemetry = startTelemetry({
    serviceName: 'omni-test',
    spanExporter: exporter,
    autoInstrument: ['http', 'pg', 'ioredis'],
  });
  stack = await startTestStack('telemetry');
  // A real HTTP server, so the request passes through node:http as in production.
  served = await serveApp(stack.app, { host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await served?.close();
  await stack?.stop();
  await telemetry?.shutdown();
});

describe('OpenTelemetry', () => {
  it('traces one job from the HTTP request through the append, dispatcher and worker into the sandbox, in one trace', async () => {
    const headers = { authorization: `Bearer ${await stack.token()}`, 'content-type': 'application/json' };
    const response = await fetch(`${served.url}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ image: testImage, command: ['echo', 'traced'] }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    let status = 'queued';
    for (let i = 0; i < 200 && status !== 'succeeded' && status !== 'failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = ((await (await stack.app.request(`/v1/jobs/${id}`, { headers })).json()) as { status: string })
        .status;
    }
    expect(status).toBe('succeeded');

    const [submitted] = await stack.store.readStream(`job-${id}`);
    const traceparent = submitted?.metadata.traceparent;
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const traceId = String(traceparent).split('-')[1];

    // The worker's span ends after its last append, so it can finish a moment after the job reads succeeded.
    const spans = await eventually(
      async () => exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId),
      (finished) => finished.some((span) => span.name === 'run attempt'),
    );
    const names = spans.map((span) => span.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'POST /v1/jobs',
        'event-store append',
        'dispatch attempt',
        'run attempt',
        'sandbox run',
      ]),
    );
    // HTTP, pg and ioredis are auto-instrumented: the server span is the trace's root, the append's
    // SQL and the worker's Redis commands (its tenant slot) are in the same trace.
    const scopeOf = (name: string) =>
      spans.filter((span) => span.instrumentationScope.name === `@opentelemetry/instrumentation-${name}`);
    const [httpServer] = scopeOf('http').filter((span) => span.kind === SpanKind.SERVER);
    expect(httpServer?.name).toBe('POST /v1/jobs');
    expect(httpServer?.parentSpanContext).toBeUndefined();
    const routeSpan = spans.find((span) => span.instrumentationScope.name === 'omni-api');
    expect(routeSpan?.parentSpanContext?.spanId).toBe(httpServer?.spanContext().spanId);
    expect(scopeOf('pg').map((span) => span.name)).toContainEqual(expect.stringMatching(/^pg\.query/));
    expect(scopeOf('ioredis').length).toBeGreaterThan(0);
    // The sandbox span hangs under the attempt span, which continues the dispatcher's.
    // Log lines written while the attempt ran carry the same trace id.
    const attemptLog = stack
      .logs()
      .map((line) => JSON.parse(line) as { msg?: string; jobId?: string; trace_id?: string })
      .find((line) => line.msg === 'attempt finished' && line.jobId === id);
    expect(attemptLog?.trace_id).toBe(traceId);
    const byName = (name: string) => spans.find((span) => span.name === name);
    expect(byName('sandbox run')?.parentSpanContext?.spanId).toBe(
      byName('run attempt')?.spanContext().spanId,
    );
    expect(byName('run attempt')?.parentSpanContext?.spanId).toBe(
      byName('dispatch attempt')?.spanContext().spanId,
    );
  });

  it('reports queue depth and the age of the oldest waiting attempt', async () => {
    const connection = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    const queue = new Queue('jobs', { connection, prefix: `test-${randomUUID()}` });
    const stop = observeQueue(queue);
    try {
      await queue.add('run', { jobId: randomUUID(), attempt: 1 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const text = await telemetry.prometheusText();
      expect(text).toMatch(/omni_queue_depth\{[^}]*state="waiting"[^}]*\} 1/);
      expect(text).toMatch(/omni_queue_oldest_waiting_age\{[^}]*\} (0\.0*[1-9]|[1-9])/);
    } finally {
      stop();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });

  it('puts each histogram sample in a bucket that fits it: seconds, not the default millisecond bounds', async () => {
    const text = await telemetry.prometheusText();
    // Cumulative bucket counts by bound, for one histogram.
    const buckets = (name: string) =>
      [...text.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\d+)`, 'gm'))].reduce(
        (counts, [, le, count]) => counts.set(String(le), (counts.get(String(le)) ?? 0) + Number(count)),
        new Map<string, number>(),
      );
    const append = buckets('omni_event_append_duration');
    const sandbox = buckets('omni_sandbox_run_duration');
    expect([...append.keys()]).toEqual([...histogramBuckets.appendSeconds.map(String), '+Inf']);
    expect([...sandbox.keys()]).toEqual([...histogramBuckets.sandboxSeconds.map(String), '+Inf']);
    // The first test's appends took well under a second each, its `echo` run a few seconds at most:
    // counted in the low buckets, not only in +Inf (a duration in milliseconds would be past 10).
    // An echo run may take under the first bound (0.25 s) on a quiet machine, so that bucket may
    // hold every run; an append never takes under 0.5 ms.
    const total = (counts: Map<string, number>) => counts.get('+Inf') ?? 0;
    expect(total(append)).toBeGreaterThan(0);
    expect(append.get('1')).toBe(total(append));
    expect(append.get('0.0005')).toBeLessThan(total(append));
    expect(total(sandbox)).toBeGreaterThan(0);
    expect(sandbox.get('10')).toBe(total(sandbox));
  });

  it('exposes the metrics as Prometheus text', async () => {
    const text = await telemetry.prometheusText();
    expect(text).toMatch(/omni_jobs_finished_total\{[^}]*outcome="succeeded"[^}]*\} [1-9]/);
    expect(text).toContain('omni_event_append_duration');
    expect(text).toMatch(/omni_event_append_group_size_count\{[^}]*\} [1-9]/);
    expect(text).toContain('omni_sandbox_run_duration');
  });

  it('keeps the detected host and process attributes out of /metrics, which no credential guards', async () => {
    const text = await telemetry.prometheusText();
    expect(text).not.toContain('target_info');
    expect(text).not.toContain(process.execPath);
  });

  it('auto-instruments http, pg and ioredis unless the operator turns some off', () => {
    expect(loadConfig({}).autoInstrument).toEqual(['http', 'pg', 'ioredis']);
    expect(loadConfig({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg, ioredis' }).autoInstrument).toEqual([
      'http',
    ]);
    expect(() => loadConfig({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'mongodb' })).toThrow(ConfigError);
  });
});
