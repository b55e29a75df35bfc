import type { RecordedEvent } from './event-store.ts';
import { UnreadableEventError } from './event-store-errors.ts';
import { findUnstorableText, unstorableTextReason } from './unstorable-text.ts';
import type { Upcasters } from './upcasters.ts';

/** The read schema of one event type (a zod schema fits): what every reader parses its data with. */
export interface EventReadSchema {
  readonly version: number;
  readonly data: {
    safeParse(value: unknown): {
      readonly success: boolean;
      readonly error?: {
        readonly issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>;
      };
    };
  };
}

/** Read schemas by event type, passed in by whoever creates the store (the store knows no domain). */
export type EventReadSchemas = Readonly<Record<string, EventReadSchema>>;

interface Pending {
  readonly type: string;
  readonly schema_version: number;
  readonly data: unknown;
  readonly metadata: unknown;
}

const pointerOf = (path: ReadonlyArray<PropertyKey>) =>
  `/data${path.map((segment) => `/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')}`;

/**
 * Throws UnreadableEventError unless every event reads back as readers will read it: text Postgres
 * can store, then the JSON round trip (undefined dropped, NaN and Infinity turned into null, Dates
 * into strings), the upcasters, and the read schema of its type. A type without a schema is only
 * held to the first two: the store does not guess at other domains' rules.
 */
export function assertReadable(
  streamId: string,
  events: readonly Pending[],
  schemas: EventReadSchemas | undefined,
  upcasters: Upcasters,
): void {
  const streamReason = unstorableTextReason(streamId);
  if (streamReason)
    throw new UnreadableEventError(streamId, events[0]?.type ?? '', streamReason, '/streamId');
  for (const event of events) {
    const typeReason = unstorableTextReason(event.type);
    if (typeReason) throw new UnreadableEventError(streamId, event.type, typeReason, '/type');
    for (const [part, value] of [
      ['data', event.data],
      ['metadata', event.metadata],
    ] as const) {
      const [first] = findUnstorableText(value, 1);
      if (first)
        throw new UnreadableEventError(streamId, event.type, first.detail, `/${part}${first.pointer}`);
    }
    const schema = schemas?.[event.type];
    if (!schema) continue;
    const stored = JSON.parse(JSON.stringify({ data: event.data ?? null })) as { data: unknown };
    const read = upcasters.upcast({
      globalPosition: 0,
      transactionId: '0',
      streamId,
      streamVersion: 0,
      eventId: '00000000-0000-0000-0000-000000000000',
      type: event.type,
      schemaVersion: event.schema_version,
      data: stored.data,
      metadata: {},
      recordedAt: new Date(0),
    } satisfies RecordedEvent);
    if (read.schemaVersion !== schema.version) {
      throw new UnreadableEventError(
        streamId,
        event.type,
        `schema version ${event.schema_version} cannot be read as version ${schema.version}`,
        '/schemaVersion',
      );
    }
    const parsed = schema.data.safeParse(read.data);
    if (!parsed.success) {
      const issue = parsed.error?.issues[0];
      throw new UnreadableEventError(
        streamId,
        event.type,
        issue?.message ?? 'refused by its read schema',
        issue ? pointerOf(issue.path) : '/data',
      );
    }
  }
}
