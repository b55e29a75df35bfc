import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Sandbox } from '../../workers/sandbox/sandbox.ts';
import { instruments } from './instruments.ts';

/** Wraps a sandbox so each run is a span (child of the attempt's) and its duration a histogram. */
export function instrumentSandbox(sandbox: Sandbox): Sandbox {
  const tracer = trace.getTracer('omni-sandbox');
  const { sandboxDuration } = instruments();
  const instrumented: Sandbox = {
    ...sandbox,
    run: (request) =>
      tracer.startActiveSpan(
        'sandbox run',
        {
          attributes: {
            'omni.job_id': request.labels.jobId,
            'omni.attempt': request.labels.attempt,
            'container.image.name': request.spec.image,
          },
        },
        async (span) => {
          const started = performance.now();
          try {
            const result = await sandbox.run(request);
            span.setAttributes({ 'omni.outcome': result.reason, 'process.exit.code': result.exitCode ?? -1 });
            sandboxDuration.record((performance.now() - started) / 1000, { outcome: result.reason });
            return result;
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
            sandboxDuration.record((performance.now() - started) / 1000, { outcome: 'sandbox-error' });
            throw error;
          } finally {
            span.end();
          }
        },
      ),
  };
  return instrumented;
}
