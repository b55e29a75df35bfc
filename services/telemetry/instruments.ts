import { metrics } from '@opentelemetry/api';

/**
 * The product's metrics, created lazily from the global meter so they bind to whatever provider
 * `startTelemetry` registered (or to the no-op one).
 */
export function instruments() {
  const meter = metrics.getMeter('omni');
  return {
    jobsFinished: meter.createCounter('omni_jobs_finished', {
      description: 'Jobs that reached an outcome, by outcome',
    }),
    appendLatency: meter.createHistogram('omni_event_append_duration', {
      description: 'Event append latency',
      unit: 's',
    }),
    appendGroupSize: meter.createHistogram('omni_event_append_group_size', {
      description: 'Appends that shared one transaction (group commit); 1 is an append alone',
      advice: { explicitBucketBoundaries: [1, 2, 4, 8, 16, 32, 48] },
    }),
    sandboxDuration: meter.createHistogram('omni_sandbox_run_duration', {
      description: 'Sandbox run wall time',
      unit: 's',
    }),
    // Alert on any increase: a reader stepped over an event it could not read (see unreadable_events).
    eventsUnreadable: meter.createCounter('omni_events_unreadable_total', {
      description: 'Events a reader stepped over because it could not read them, by reader',
    }),
    refusedRequests: meter.createCounter('omni_http_refused', {
      description: 'Requests refused (401, 403, 429), by status',
    }),
    meter,
  };
}
