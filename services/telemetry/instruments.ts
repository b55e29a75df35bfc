import { metrics } from '@opentelemetry/api';

/**
 * Bucket bounds in seconds for each histogram: the SDK's default bounds (0, 5, 10, 25 … 10000) are
 * made for milliseconds, so every append and most sandbox runs would land in the first bucket.
 */
export const histogramBuckets = {
  // An append is a fraction of a millisecond alone, tens of milliseconds under load.
  appendSeconds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  // A sandbox run: a container start (~0.3 s) up to the longest timeout an operator allows.
  sandboxSeconds: [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600],
} as const;

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
      advice: { explicitBucketBoundaries: [...histogramBuckets.appendSeconds] },
    }),
    appendGroupSize: meter.createHistogram('omni_event_append_group_size', {
      description: 'Appends that shared one transaction (group commit); 1 is an append alone',
      advice: { explicitBucketBoundaries: [1, 2, 4, 8, 16, 32, 48] },
    }),
    sandboxDuration: meter.createHistogram('omni_sandbox_run_duration', {
      description: 'Sandbox run wall time',
      unit: 's',
      advice: { explicitBucketBoundaries: [...histogramBuckets.sandboxSeconds] },
    }),
    // Alert on any increase: a reader stepped over an event it could not read (see unreadable_events).
    eventsUnreadable: meter.createCounter('omni_events_unreadable_total', {
      description: 'Events a reader stepped over because it could not read them, by reader',
    }),
    refusedRequests: meter.createCounter('omni_http_refused', {
      description: 'Requests refused (401, 403, 429), by status',
    }),
    // A rising share of anything but `delivered` is a receiver (or the network to it) in trouble.
    webhookAttempts: meter.createCounter('omni_webhook_attempts', {
      description: 'Webhook delivery attempts, by outcome: delivered, or why not',
    }),
    meter,
  };
}
