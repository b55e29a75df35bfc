import type { ColumnType, Generated, Kysely } from 'kysely';
import type { Database } from '../events/tables.ts';

/** A tenant's subscription; its signing secret sealed as the secrets room seals values. */
export interface WebhookSubscriptionsTable {
  readonly id: string;
  readonly tenant: string;
  readonly url: string;
  readonly events: string[];
  readonly key_id: string;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
  readonly created_at: ColumnType<Date, never, never>;
  readonly deleted_at: ColumnType<Date | null, never, Date>;
}

/** A delivery still owed (or done: finished_at set); the delivery role's work list. */
export interface WebhookDeliveriesTable {
  readonly id: string;
  readonly tenant: string;
  readonly job_id: string;
  readonly event_type: string;
  readonly url: string;
  readonly subscription_id: string | null;
  readonly body: string;
  readonly attempts: Generated<number>;
  readonly next_attempt_at: Date;
  readonly give_up_at: Date;
  readonly lease_until: Date | null;
  readonly finished_at: Date | null;
  readonly created_at: ColumnType<Date, never, never>;
}

export type WebhookTables = {
  readonly webhook_subscriptions: WebhookSubscriptionsTable;
  readonly webhook_deliveries: WebhookDeliveriesTable;
};

/** The database handle with the webhook tables (migration 0064) known to the type checker. */
export const withWebhookTables = (db: Kysely<Database>): Kysely<Database & WebhookTables> =>
  db.withTables<WebhookTables>();
