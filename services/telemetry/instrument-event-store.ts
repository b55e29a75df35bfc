import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Kysely } from 'kysely';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import { instruments } from './instruments.ts';

// Events that end an attempt or a job: counted as outcomes. Listed here, not in the domain, because
// only the metric cares which ones they are.
const outcomeOf: Readonly<Record<string, string>> = {
  JobSucceeded: 'succeeded',
  JobFailed: 'failed',
  JobCancelled: 'cancelled',
  JobExpired: 'expired',
  JobAttemptAbandoned: 'abandoned',
};

/** Wraps a store so every append is a span, its latency a histogram, and outcomes are counted. */
function instrumentEventStore(store: EventStore): EventStore {
  const tracer = trace.getTracer('omni-events');
  const { appendLatency, jobsFinished } = instruments();
  return {
    ...store,
    append: (streamId, expectedVersion, events) =>
      tracer.startActiveSpan(
        'event-store append',
        {
          attributes: { 'omni.stream_id': streamId, 'omni.event_types': events.map((e) => e.type).join(',') },
        },
        async (span) => {
          const started = performance.now();
          try {
            const result = await store.append(streamId, expectedVersion, events);
            for (const event of events) {
              const outcome = outcomeOf[event.type];
              const reason = (event.data as { reason?: unknown } | undefined)?.reason;
              if (outcome)
                jobsFinished.add(1, { outcome, ...(typeof reason === 'string' ? { reason } : {}) });
            }
            return result;
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).name });
            throw error;
          } finally {
            appendLatency.record((performance.now() - started) / 1000);
            span.end();
          }
        },
      ),
  };
}

/**
 * The store the roles run on: instrumented, reporting the size of each group commit, and refusing
 * any event its readers could not read back.
 */
export function createInstrumentedEventStore(
  db: Kysely<Database>,
  options: { readonly appendGroupsInFlight?: number } = {},
): EventStore {
  const { appendGroupSize } = instruments();
  return instrumentEventStore(
    createEventStore(db, {
      schemas: eventReadSchemas,
      groupCommit: {
        onGroup: (size) => appendGroupSize.record(size),
        ...(options.appendGroupsInFlight === undefined ? {} : { maxInFlight: options.appendGroupsInFlight }),
      },
    }),
  );
}
