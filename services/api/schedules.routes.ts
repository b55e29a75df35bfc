import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { createEventStore, type EventMetadata, type EventStore } from '../../events/event-store.ts';
import { ConcurrencyError } from '../../events/event-store-errors.ts';
import type { Database } from '../../events/tables.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import type { ScheduleCommand } from '../../schedules/schedule.decider.ts';
import type { ScheduleState } from '../../schedules/schedule.state.ts';
import { ScheduleDomainError } from '../../schedules/schedule-domain-error.ts';
import {
  executeScheduleCommand,
  type LoadedSchedule,
  loadSchedule,
  newSchedule,
} from '../../schedules/schedule-stream.ts';
import { scheduleLinks, toScheduleView } from '../../schedules/schedule-view.ts';
import type { SchedulesTable } from '../../schedules/schedules.table.ts';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import { cronProblem } from '../../schemas/schedule-cron.ts';
import type { ScheduleDefinition, ScheduleTiming } from '../../schemas/schedule-events.schema.ts';
import {
  type ChangeScheduleInput,
  type CreateScheduleInput,
  changeScheduleSchema,
  createScheduleSchema,
  type ScheduleJobInput,
  scheduleDefaults,
} from '../../schemas/schedule-spec.schema.ts';
import type { scheduleViewSchema } from '../../schemas/schedule-view.schema.ts';
import type { SecretVault } from '../../secrets/secret-vault.ts';
import { findAllowedImage } from '../../workers/sandbox/image-allowlist.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { parseIdempotencyKey, requestHash, scheduleKeys, withIdempotencyKey } from './idempotency.ts';
import { openApiRoutes } from './openapi-route.ts';
import { invalidRequest, ProblemError } from './problem.ts';
import {
  changeScheduleRoute,
  createScheduleRoute,
  deleteScheduleRoute,
  getScheduleRoute,
  listSchedulesRoute,
} from './schedules.openapi.ts';
import { hasScope, type Principal } from './token-verifier.ts';

export interface SchedulesRoutesDeps {
  readonly store: EventStore;
  readonly policy: SandboxPolicy;
  /** The schedules read model and the snapshots schedules load from; absent: every route answers 503. */
  readonly db?: Kysely<Database>;
  readonly secrets?: SecretVault;
}

type Env = { Variables: AuthVariables & { requestId: string } };
type Existing = Exclude<ScheduleState, { status: 'initial' }>;

/** A tenant's schedules that are not deleted, at most; each one costs the firing loop a little every slot. */
export const maxSchedulesPerTenant = 1000;

/** A schedule the API shows: never a deleted one (those answer 404 and are left out of lists). */
const shownView = (state: Existing) => {
  const view = toScheduleView(state);
  return { ...view, status: view.status as z.infer<typeof scheduleViewSchema>['status'] };
};

const notFound = () =>
  new ProblemError({ status: 404, code: 'schedule-not-found', title: 'No such schedule' });

/** Where an interval counts from when the client names no startAt: slots on whole seconds read better. */
const nextWholeSecond = (now: Date) => new Date(Math.ceil(now.getTime() / 1000) * 1000).toISOString();

function requireDb(db: Kysely<Database> | undefined): Kysely<Database> {
  if (!db) {
    throw new ProblemError({
      status: 503,
      code: 'schedules-unavailable',
      title: 'Schedules are not available here',
    });
  }
  return db;
}

/**
 * Loads a schedule the principal may see. Another tenant's schedule answers exactly like a missing
 * (or deleted) one, so ids leak nothing across tenants.
 */
async function loadVisibleSchedule(
  db: Kysely<Database>,
  id: string,
  principal: Principal,
): Promise<LoadedSchedule & { readonly state: Existing }> {
  if (!z.uuid().safeParse(id).success) throw notFound();
  const loaded = await loadSchedule(db, id);
  const { state } = loaded;
  if (state.status === 'initial' || state.status === 'deleted') throw notFound();
  if (state.tenant !== principal.tenant && !hasScope(principal, 'admin')) throw notFound();
  return { ...loaded, state };
}

/**
 * How often a command is decided again after the stream moved under it (see execute). A real
 * schedule's stream moves once a slot; against three writers appending back to back (the busy
 * schedule test) a try lost about 70% of the time under CI load, so 10 tries still failed a command
 * in about 3%; 25 leave about 1 in 10,000. Each try is one stream read and one append.
 */
const conflictRetries = 25;

/**
 * Runs a schedule command; the domain's refusals leave as problems. The firing loop appends to the
 * schedule's stream at every slot, so a command decided on what was read may meet a newer version:
 * with `reload`, the stream is read again and the command decided on it anew (a change is applied
 * to the definition as it is now, never over a newer one), so pausing or deleting a busy schedule
 * does not fail with a conflict.
 */
async function execute<Loaded extends LoadedSchedule>(
  store: EventStore,
  id: string,
  commandFor: (loaded: Loaded) => ScheduleCommand,
  metadata: EventMetadata,
  loaded: Loaded,
  reload?: () => Promise<Loaded>,
): Promise<void> {
  let current = loaded;
  for (let tries = 1; ; tries += 1) {
    try {
      await executeScheduleCommand(store, id, commandFor(current), metadata, current);
      return;
    } catch (error) {
      if (error instanceof ScheduleDomainError && error.code === 'schedule-not-found') throw notFound();
      if (!(error instanceof ConcurrencyError) || !reload || tries >= conflictRetries) throw error;
      current = await reload();
    }
  }
}

/** POST /v1/schedules: a spec and either a cron expression (with time zone) or an interval, and policies. */
export function createSchedulesRoutes(deps: SchedulesRoutesDeps) {
  const imageAllowed = (job: { readonly image?: string } | undefined, ctx: z.RefinementCtx) => {
    if (job?.image !== undefined && !findAllowedImage(deps.policy.allowedImages, job.image)) {
      ctx.addIssue({
        code: 'custom',
        path: ['job', 'image'],
        message: `image is not on the allowlist (${deps.policy.allowedImages.join(', ')})`,
      });
    }
  };
  const createBody = createScheduleSchema.superRefine((body, ctx) => imageAllowed(body.job, ctx));
  const changeBody = changeScheduleSchema.superRefine((body, ctx) => imageAllowed(body.job, ctx));

  /** Secrets the job names must exist now; a slot cannot report a 400 to anyone. */
  async function checkSecrets(job: ScheduleJobInput, tenant: string): Promise<void> {
    const names = Object.values(job.secrets ?? {});
    if (names.length === 0) return;
    if (!deps.secrets) {
      throw new ProblemError({
        status: 503,
        code: 'secrets-disabled',
        title: 'Secrets are not configured',
        detail: 'the operator has set no SECRETS_KEYS',
      });
    }
    const missing = await deps.secrets.missing(tenant, names);
    if (missing.length === 0) return;
    throw invalidRequest(
      'the job names secrets that do not exist',
      Object.entries(job.secrets ?? {})
        .filter(([, name]) => missing.includes(name))
        .map(([variable, name]) => ({
          pointer: `/job/secrets/${variable}`,
          detail: `secret ${name} does not exist`,
        })),
    );
  }

  // The resolved spec is immutable by type; the definition is plain data the events carry as it is.
  const resolve = (job: ScheduleJobInput) => resolveJobSpec(job, deps.policy) as ScheduleDefinition['spec'];

  function definitionOf(input: CreateScheduleInput, now: Date): ScheduleDefinition {
    const timing: ScheduleTiming =
      input.cron === undefined
        ? { intervalMs: input.intervalMs ?? 0 }
        : { cron: input.cron, timeZone: input.timeZone ?? scheduleDefaults.timeZone };
    return {
      ...(input.name === undefined ? {} : { name: input.name }),
      spec: resolve(input.job),
      timing,
      catchUp: input.catchUp ?? scheduleDefaults.catchUp,
      maxCatchUp: input.maxCatchUp ?? scheduleDefaults.maxCatchUp,
      overlap: input.overlap ?? scheduleDefaults.overlap,
      startAt: input.startAt === undefined ? nextWholeSecond(now) : new Date(input.startAt).toISOString(),
    };
  }

  /** The definition after a PATCH: the client's fields over the current ones. */
  function changedDefinition(
    current: ScheduleDefinition,
    input: ChangeScheduleInput,
    now: Date,
  ): ScheduleDefinition {
    const currentZone = 'cron' in current.timing ? current.timing.timeZone : undefined;
    let timing = current.timing;
    if (input.cron !== undefined) {
      timing = { cron: input.cron, timeZone: input.timeZone ?? currentZone ?? scheduleDefaults.timeZone };
    } else if (input.intervalMs !== undefined) {
      timing = { intervalMs: input.intervalMs };
    } else if (input.timeZone !== undefined) {
      if (!('cron' in current.timing)) {
        throw invalidRequest('the schedule runs on an interval', [
          { pointer: '/timeZone', detail: 'a time zone applies to a cron expression only' },
        ]);
      }
      const problem = cronProblem(current.timing.cron, input.timeZone);
      if (problem)
        throw invalidRequest('the cron expression does not fire there', [
          { pointer: '/timeZone', detail: problem },
        ]);
      timing = { cron: current.timing.cron, timeZone: input.timeZone };
    }
    const timingChanged = JSON.stringify(timing) !== JSON.stringify(current.timing);
    const name = input.name ?? current.name;
    return {
      ...(name === undefined ? {} : { name }),
      spec: input.job ? resolve(input.job) : current.spec,
      timing,
      catchUp: input.catchUp ?? current.catchUp,
      maxCatchUp: input.maxCatchUp ?? current.maxCatchUp,
      overlap: input.overlap ?? current.overlap,
      // A new interval counts from now unless the client says from when.
      startAt: input.startAt
        ? new Date(input.startAt).toISOString()
        : timingChanged
          ? nextWholeSecond(now)
          : current.startAt,
    };
  }

  return openApiRoutes<Env>()
    .openapi(createScheduleRoute(createBody), async (c) => {
      const db = requireDb(deps.db);
      const principal = c.get('principal');
      const input = c.req.valid('json');
      const idempotencyKey = parseIdempotencyKey(c.req.header('idempotency-key'));
      await checkSecrets(input.job, principal.tenant);
      const id = randomUUID();
      const definition = definitionOf(input, new Date());
      const metadata = auditMetadata(c, principal, { correlationId: id });
      // Counted only for a schedule about to be made: a replayed create adds none.
      const create = async (store: EventStore) => {
        const { count } = await db
          .withTables<{ schedules: SchedulesTable }>()
          .selectFrom('schedules')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('tenant', '=', principal.tenant)
          .where('status', '!=', 'deleted')
          .executeTakeFirstOrThrow();
        if (Number(count) >= maxSchedulesPerTenant) {
          throw new ProblemError({
            status: 409,
            code: 'too-many-schedules',
            title: 'The tenant has as many schedules as it may',
            detail: `at most ${maxSchedulesPerTenant} schedules per tenant; delete one first`,
          });
        }
        await execute(store, id, () => ({ type: 'CreateSchedule', definition }), metadata, newSchedule);
      };
      if (idempotencyKey === undefined) {
        await create(deps.store);
      } else {
        // The key and the schedule's first event commit together: a retry finds the schedule it made.
        const outcome = await withIdempotencyKey(
          db,
          { tenant: principal.tenant, key: idempotencyKey, hash: requestHash(input), id },
          (trx) => create(createEventStore(trx, { schemas: eventReadSchemas })),
          scheduleKeys,
        );
        if (outcome.kind === 'replayed') {
          const { state } = await loadVisibleSchedule(db, outcome.id, principal);
          c.header('location', scheduleLinks(outcome.id).self);
          return c.json(shownView(state), 200);
        }
      }
      const { state } = await loadVisibleSchedule(db, id, principal);
      c.header('location', scheduleLinks(id).self);
      return c.json(shownView(state), 201);
    })
    .openapi(listSchedulesRoute, async (c) => {
      const db = requireDb(deps.db);
      const principal = c.get('principal');
      const { limit, after } = c.req.valid('query');
      const everyTenant = hasScope(principal, 'admin');
      // Newest first; `after` names the last schedule of the previous page.
      const { rows } = await sql<{ state: Existing }>`
        select state from schedules s
        where s.status <> 'deleted'
          ${everyTenant ? sql`` : sql`and s.tenant = ${principal.tenant}`}
          ${
            after === undefined
              ? sql``
              : sql`and (s.created_at, s.id) < (select created_at, id from schedules where id = ${after})`
          }
        order by s.created_at desc, s.id desc
        limit ${limit + 1}
      `.execute(db);
      const page = rows.slice(0, limit).map((row) => shownView(row.state));
      return c.json({ schedules: page, next: rows.length > limit ? (page.at(-1)?.id ?? null) : null }, 200);
    })
    .openapi(getScheduleRoute, async (c) => {
      const { state } = await loadVisibleSchedule(
        requireDb(deps.db),
        c.req.valid('param').id,
        c.get('principal'),
      );
      return c.json(shownView(state), 200);
    })
    .openapi(changeScheduleRoute(changeBody), async (c) => {
      const db = requireDb(deps.db);
      const principal = c.get('principal');
      const id = c.req.valid('param').id;
      const { paused, ...changes } = c.req.valid('json');
      const reload = () => loadVisibleSchedule(db, id, principal);
      let loaded = await reload();
      const metadata = auditMetadata(c, principal, { correlationId: id });
      if (changes.job) await checkSecrets(changes.job, loaded.state.tenant);
      const now = new Date();
      if (Object.keys(changes).length > 0) {
        const change = (current: typeof loaded): ScheduleCommand => ({
          type: 'ChangeSchedule',
          definition: changedDefinition(current.state.definition, changes, now),
          now,
        });
        await execute(deps.store, id, change, metadata, loaded, reload);
        loaded = await reload();
      }
      if (paused !== undefined) {
        const command: ScheduleCommand = paused ? { type: 'PauseSchedule' } : { type: 'ResumeSchedule', now };
        await execute(deps.store, id, () => command, metadata, loaded, reload);
        loaded = await reload();
      }
      return c.json(shownView(loaded.state), 200);
    })
    .openapi(deleteScheduleRoute, async (c) => {
      const db = requireDb(deps.db);
      const principal = c.get('principal');
      const id = c.req.valid('param').id;
      const reload = () => loadVisibleSchedule(db, id, principal);
      await execute(
        deps.store,
        id,
        () => ({ type: 'DeleteSchedule' }),
        auditMetadata(c, principal, { correlationId: id }),
        await reload(),
        reload,
      );
      return c.body(null, 204);
    });
}
