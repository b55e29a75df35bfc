import { fileEventSchemas } from './file-events.schema.ts';
import { jobEventSchemas } from './job-events.schema.ts';
import { scheduleEventSchemas } from './schedule-events.schema.ts';
import { webhookSubscriptionEventSchemas } from './webhook-events.schema.ts';

/**
 * Every event type the product writes, with the schema its readers parse it with: given to each
 * event store that appends (`createEventStore(db, { schemas })`), so none is written unreadable.
 */
export const eventReadSchemas = {
  ...jobEventSchemas,
  ...fileEventSchemas,
  ...webhookSubscriptionEventSchemas,
  ...scheduleEventSchemas,
} as const;
