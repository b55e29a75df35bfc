import { type Kysely, sql } from 'kysely';
import { createEventStore } from '../events/event-store.ts';
import type { Database } from '../events/tables.ts';
import { jobStreamId } from '../jobs/job-stream.ts';
import { eventReadSchemas } from '../schemas/event-read-schemas.ts';
import { type WebhookJobEventType, webhookDeliveryEventSchemas } from '../schemas/webhook-events.schema.ts';
import type { PlannedDelivery } from './delivery-plan.ts';
import type { AttemptOutcome } from './post-webhook.ts';
import { withWebhookTables } from './webhook-tables.ts';

/** A delivery taken for one attempt: held (leased) by this process until the attempt is recorded. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly tenant: string;
  readonly jobId: string;
  readonly eventType: WebhookJobEventType;
  readonly url: string;
  readonly subscriptionId: string | null;
  readonly body: string;
  /** This attempt's number, from 1. */
  readonly attempt: number;
  readonly giveUpAt: Date;
}

export interface DeliveryQueue {
  /** Records deliveries owed; one already owed (the same id) is left as it is. */
  owe(deliveries: readonly PlannedDelivery[], retryForMs: number): Promise<void>;
  /**
   * Takes up to `limit` due deliveries no live process holds, each for `leaseMs`: one whose holder
   * died lets its lease lapse and is taken again, so a delivery in flight is never lost. No tenant
   * gets more than `perTenant` in flight across all processes: one tenant's receivers that hang
   * cannot hold every sender while other tenants' deliveries wait.
   */
  claim(limit: number, leaseMs: number, perTenant: number): Promise<readonly ClaimedDelivery[]>;
  /**
   * Appends the attempt's event to the job's stream and settles the row in one transaction:
   * delivered or given up (finished), or due again at `retryAt`. False, recording nothing, when
   * another process took the delivery over meanwhile (this one's lease had lapsed).
   */
  record(delivery: ClaimedDelivery, outcome: AttemptOutcome, retryAt: Date | undefined): Promise<boolean>;
  /**
   * Removes the rows of deliveries finished (delivered or given up) more than `olderThanMs` ago, at
   * most `limit` of them; answers how many went. Their attempts stay on the jobs' streams.
   */
  prune(olderThanMs: number, limit: number): Promise<number>;
}

/** The work list in Postgres (webhook_deliveries, migration 0064). */
export function createDeliveryQueue(db: Kysely<Database>): DeliveryQueue {
  const tables = withWebhookTables(db);
  return {
    async owe(deliveries, retryForMs) {
      if (deliveries.length === 0) return;
      await tables
        .insertInto('webhook_deliveries')
        .values(
          deliveries.map((delivery) => ({
            id: delivery.id,
            tenant: delivery.tenant,
            job_id: delivery.jobId,
            event_type: delivery.eventType,
            url: delivery.url,
            subscription_id: delivery.subscriptionId ?? null,
            body: delivery.body,
            next_attempt_at: sql<Date>`now()`,
            give_up_at: sql<Date>`now() + ${`${retryForMs} milliseconds`}::interval`,
          })),
        )
        .onConflict((conflict) => conflict.column('id').doNothing())
        .execute();
    },

    async claim(limit, leaseMs, perTenant) {
      // Candidates are the earliest due (at most 1000 looked at), ranked within their tenant after
      // what the tenant already holds. Window functions cannot be locked (FOR UPDATE), so the update
      // checks the lease again on the row it locks: of two senders racing for one row, the second
      // finds it held and passes it over.
      const { rows } = await sql<{
        id: string;
        tenant: string;
        job_id: string;
        event_type: WebhookJobEventType;
        url: string;
        subscription_id: string | null;
        body: string;
        attempts: number;
        give_up_at: Date;
      }>`
        with due as (
          select id, tenant, next_attempt_at from webhook_deliveries
           where finished_at is null
             and next_attempt_at <= now()
             and (lease_until is null or lease_until < now())
           order by next_attempt_at
           limit 1000
        ), held as (
          select tenant, count(*) as n from webhook_deliveries
           where finished_at is null and lease_until >= now() and tenant in (select tenant from due)
           group by tenant
        ), ranked as (
          select due.id, due.next_attempt_at,
                 row_number() over (partition by due.tenant order by due.next_attempt_at)
                   + coalesce(held.n, 0) as place
            from due left join held using (tenant)
        ), chosen as (
          select id from ranked where place <= ${perTenant} order by next_attempt_at limit ${limit}
        )
        update webhook_deliveries d
           set attempts = d.attempts + 1,
               lease_until = now() + ${`${leaseMs} milliseconds`}::interval
          from chosen
         where d.id = chosen.id
           and d.finished_at is null
           and (d.lease_until is null or d.lease_until < now())
        returning d.id, d.tenant, d.job_id, d.event_type, d.url, d.subscription_id, d.body, d.attempts, d.give_up_at
      `.execute(db);
      return rows.map((row) => ({
        id: row.id,
        tenant: row.tenant,
        jobId: row.job_id,
        eventType: row.event_type,
        url: row.url,
        subscriptionId: row.subscription_id,
        body: row.body,
        attempt: row.attempts,
        giveUpAt: row.give_up_at,
      }));
    },

    async record(delivery, outcome, retryAt) {
      return db.transaction().execute(async (trx) => {
        const settled = await withWebhookTables(trx)
          .updateTable('webhook_deliveries')
          .set(
            retryAt === undefined
              ? { finished_at: sql<Date>`now()`, lease_until: null }
              : { next_attempt_at: retryAt, lease_until: null },
          )
          .where('id', '=', delivery.id)
          .where('attempts', '=', delivery.attempt)
          .where('finished_at', 'is', null)
          .executeTakeFirst();
        if (settled.numUpdatedRows === 0n) return false;
        const common = {
          deliveryId: delivery.id,
          url: delivery.url,
          attempt: delivery.attempt,
          event: delivery.eventType,
          ...(delivery.subscriptionId === null ? {} : { subscriptionId: delivery.subscriptionId }),
        };
        const event = outcome.delivered
          ? {
              type: 'WebhookDelivered' as const,
              data: { ...common, status: outcome.status, durationMs: outcome.durationMs },
            }
          : {
              type: 'WebhookFailed' as const,
              data: {
                ...common,
                reason: outcome.reason,
                willRetry: retryAt !== undefined,
                ...(outcome.status === undefined ? {} : { status: outcome.status }),
                ...(outcome.durationMs === undefined ? {} : { durationMs: outcome.durationMs }),
                // Bounded as its schema bounds it: a refused append would retry this delivery forever.
                ...(outcome.detail === undefined ? {} : { detail: outcome.detail.slice(0, 500) }),
              },
            };
        // Any version: a delivery never waits on the job's writers. A re-run (the only write a
        // finished job takes) racing this append meets a version conflict and decides again, as
        // the retry and bulk routes do on any concurrent append.
        await createEventStore(trx, { schemas: eventReadSchemas }).append(jobStreamId(delivery.jobId), null, [
          {
            type: event.type,
            schemaVersion: webhookDeliveryEventSchemas[event.type].version,
            data: event.data,
            metadata: { tenant: delivery.tenant, actor: 'webhooks', causationId: delivery.id },
          },
        ]);
        return true;
      });
    },

    async prune(olderThanMs, limit) {
      // In bounded chunks, oldest first, so a first prune over a long backlog holds no lock for long.
      const { rows } = await sql<{ id: string }>`
        delete from webhook_deliveries where id in (
          select id from webhook_deliveries
          where finished_at < now() - ${olderThanMs} * interval '1 millisecond'
          order by finished_at
          limit ${limit}
        )
        returning id
      `.execute(db);
      return rows.length;
    },
  };
}
