import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { createEventStore, type EventMetadata } from '../events/event-store.ts';
import type { Database } from '../events/tables.ts';
import { eventReadSchemas } from '../schemas/event-read-schemas.ts';
import {
  type WebhookEventFilter,
  type WebhookJobEventType,
  webhookStreamId,
  webhookSubscriptionEventSchemas,
} from '../schemas/webhook-events.schema.ts';
import { generateSigningSecret, type SigningKeys } from './signing-keys.ts';
import { withWebhookTables } from './webhook-tables.ts';

/** A subscription as its tenant sees it: never its secret, which only its creation returns. */
export interface WebhookSubscriptionView {
  readonly id: string;
  readonly url: string;
  readonly events: readonly WebhookEventFilter[];
  readonly createdAt: string;
}

/** A subscription the delivery role signs for. */
export interface MatchedSubscription {
  readonly id: string;
  readonly url: string;
}

export interface WebhookSubscriptions {
  /** Records it (row and WebhookSubscribed together); undefined when the tenant already has `maxPerTenant`. */
  create(
    tenant: string,
    input: { readonly url: string; readonly events: readonly WebhookEventFilter[] },
    metadata: EventMetadata,
  ): Promise<{ readonly subscription: WebhookSubscriptionView; readonly secret: string } | undefined>;
  list(tenant: string): Promise<readonly WebhookSubscriptionView[]>;
  /** Another tenant's subscription is not found, exactly as a missing one. */
  find(tenant: string, id: string): Promise<WebhookSubscriptionView | undefined>;
  /** Ends it (WebhookUnsubscribed); false when the tenant has no such live subscription. */
  remove(tenant: string, id: string, metadata: EventMetadata): Promise<boolean>;
  /** The tenant's live subscriptions to `type` that existed when the event was recorded. */
  matching(
    tenant: string,
    type: WebhookJobEventType,
    recordedAt: Date,
  ): Promise<readonly MatchedSubscription[]>;
  /** The signing secret of a subscription, ended or not (deliveries owed before its end are still signed). */
  secretOf(id: string): Promise<string | undefined>;
}

/** Subscriptions one tenant may hold at once: each is one more delivery per finished job. */
export const maxWebhooksPerTenant = 50;

/** The sealed secret's associated data: a sealed value copied onto another row does not open. */
const associatedData = (id: string) => `webhook\u0000${id}`;

const toView = (row: {
  id: string;
  url: string;
  events: string[];
  created_at: Date;
}): WebhookSubscriptionView => ({
  id: row.id,
  url: row.url,
  events: row.events as WebhookEventFilter[],
  createdAt: row.created_at.toISOString(),
});

/** Subscriptions in Postgres (migration 0064), each change also an event on its `webhook-<id>` stream. */
export function createWebhookSubscriptions(
  db: Kysely<Database>,
  signing: SigningKeys,
  options: { readonly maxPerTenant?: number } = {},
): WebhookSubscriptions {
  const tables = withWebhookTables(db);
  const maxPerTenant = options.maxPerTenant ?? maxWebhooksPerTenant;
  const live = (tenant: string) =>
    tables.selectFrom('webhook_subscriptions').where('tenant', '=', tenant).where('deleted_at', 'is', null);

  return {
    async create(tenant, input, metadata) {
      const id = randomUUID();
      const secret = generateSigningSecret();
      const sealed = signing.seal(associatedData(id), secret);
      return db.transaction().execute(async (trx) => {
        // One creation per tenant at a time, so the cap holds under concurrent requests.
        await sql`select pg_advisory_xact_lock(hashtext(${`webhooks:${tenant}`}))`.execute(trx);
        const t = withWebhookTables(trx);
        const { count } = await t
          .selectFrom('webhook_subscriptions')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where('tenant', '=', tenant)
          .where('deleted_at', 'is', null)
          .executeTakeFirstOrThrow();
        if (Number(count) >= maxPerTenant) return undefined;
        const row = await t
          .insertInto('webhook_subscriptions')
          .values({
            id,
            tenant,
            url: input.url,
            events: [...input.events],
            key_id: sealed.keyId,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
            tag: sealed.tag,
          })
          .returning(['id', 'url', 'events', 'created_at'])
          .executeTakeFirstOrThrow();
        await createEventStore(trx, { schemas: eventReadSchemas }).append(webhookStreamId(id), 0, [
          {
            type: 'WebhookSubscribed',
            schemaVersion: webhookSubscriptionEventSchemas.WebhookSubscribed.version,
            data: {
              subscriptionId: id,
              tenant,
              url: input.url,
              events: [...input.events],
              keyId: sealed.keyId,
            },
            metadata,
          },
        ]);
        return { subscription: toView(row), secret };
      });
    },

    async list(tenant) {
      const rows = await live(tenant)
        .select(['id', 'url', 'events', 'created_at'])
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toView);
    },

    async find(tenant, id) {
      const row = await live(tenant)
        .select(['id', 'url', 'events', 'created_at'])
        .where('id', '=', id)
        .executeTakeFirst();
      return row && toView(row);
    },

    async remove(tenant, id, metadata) {
      return db.transaction().execute(async (trx) => {
        const ended = await withWebhookTables(trx)
          .updateTable('webhook_subscriptions')
          .set({ deleted_at: new Date() })
          .where('id', '=', id)
          .where('tenant', '=', tenant)
          .where('deleted_at', 'is', null)
          .executeTakeFirst();
        if (ended.numUpdatedRows === 0n) return false;
        await createEventStore(trx, { schemas: eventReadSchemas }).append(webhookStreamId(id), null, [
          {
            type: 'WebhookUnsubscribed',
            schemaVersion: webhookSubscriptionEventSchemas.WebhookUnsubscribed.version,
            data: { subscriptionId: id, tenant },
            metadata,
          },
        ]);
        return true;
      });
    },

    async matching(tenant, type, recordedAt) {
      return live(tenant)
        .select(['id', 'url'])
        .where('created_at', '<=', recordedAt)
        .where(sql<boolean>`events && ${sql.val([type, 'terminal'])}::text[]`)
        .orderBy('id')
        .execute();
    },

    async secretOf(id) {
      const row = await tables
        .selectFrom('webhook_subscriptions')
        .select(['key_id', 'nonce', 'ciphertext', 'tag'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) return undefined;
      return signing.open(associatedData(id), {
        keyId: row.key_id,
        nonce: row.nonce,
        ciphertext: row.ciphertext,
        tag: row.tag,
      });
    },
  };
}
