import { randomUUID } from 'node:crypto';
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import type { FileCatalog } from '../../files/file-catalog.ts';
import { executeJobCommand, type LoadedJob, loadJob, newJob } from '../../jobs/job-stream.ts';
import { jobLinks, toEventView, toJobView } from '../../jobs/job-view.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import { defaultFileLimits, type SandboxPolicy } from '../../schemas/config.schema.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import { type ResolvedInput, type SubmitJobInput, submitJobSchema } from '../../schemas/job-spec.schema.ts';
import type { SecretVault } from '../../secrets/secret-vault.ts';
import { findAllowedImage } from '../../workers/sandbox/image-allowlist.ts';
import { auditMetadata } from './audit-metadata.ts';
import { type AuthVariables, requireScope } from './bearer-auth.middleware.ts';
import { parseIdempotencyKey, requestHash, withIdempotencyKey } from './idempotency.ts';
import { invalidRequest, ProblemError } from './problem.ts';
import { hasScope, type Principal } from './token-verifier.ts';
import { validationHook } from './validation-hook.ts';
import { refusePrivateTarget, type WebhookApiDeps, webhooksConfigured } from './webhooks.routes.ts';

export interface JobsRoutesDeps {
  readonly store: EventStore;
  readonly policy: SandboxPolicy;
  /** Absent when no encryption key is configured. */
  readonly secrets?: SecretVault;
  /** For idempotency keys and the jobs read model; absent: neither is offered (503). */
  readonly db?: Kysely<Database>;
  /** Uploaded files a job may name as inputs; absent: jobs with inputs answer 503. */
  readonly files?: FileCatalog;
  /** Callback secrets and the address policy; absent: jobs with a callback answer 503. */
  readonly webhooks?: WebhookApiDeps;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const notFound = () => new ProblemError({ status: 404, code: 'job-not-found', title: 'No such job' });

const jobIdParam = z.object({ id: z.string() });

/** The most events one page of a job's history holds (and the default). */
const maxJobEventsPage = 1000;

/** A page of a job's history: the events after stream version `after`, at most `limit` of them. */
export const jobEventsQuerySchema = z
  .object({
    after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    limit: z.coerce.number().int().min(1).max(maxJobEventsPage).default(maxJobEventsPage),
  })
  .strict();

/**
 * Loads a job the principal may see. Another tenant's job answers exactly like a missing one, so
 * ids leak nothing across tenants; a malformed id cannot name a job either.
 */
export async function loadVisibleJob(
  store: EventStore,
  id: string,
  principal: Principal,
): Promise<LoadedJob> {
  if (!z.uuid().safeParse(id).success) throw notFound();
  const loaded = await loadJob(store, id);
  if (loaded.state.status === 'initial') throw notFound();
  if (loaded.state.tenant !== principal.tenant && !hasScope(principal, 'admin')) throw notFound();
  return loaded;
}

/**
 * Looks up the tenant's files a job names as inputs; the hash and size go on the job's events, so
 * the run uses exactly these bytes and the history names them even after the file is deleted.
 */
async function resolveInputs(
  input: SubmitJobInput,
  tenant: string,
  files: FileCatalog | undefined,
  policy: SandboxPolicy,
): Promise<ResolvedInput[]> {
  const wanted = input.inputs ?? [];
  if (wanted.length === 0) return [];
  if (!files) {
    throw new ProblemError({ status: 503, code: 'files-disabled', title: 'File storage is not configured' });
  }
  const found = await Promise.all(wanted.map((entry) => files.find(tenant, entry.file)));
  const missing = wanted.flatMap((entry, index) =>
    found[index] ? [] : [{ pointer: `/inputs/${index}/file`, detail: `file ${entry.file} does not exist` }],
  );
  if (missing.length > 0) throw invalidRequest('the job names input files that do not exist', missing);
  const resolved = wanted.map((entry, index) => {
    const file = found[index];
    if (!file) throw new Error('unreachable: every input was found');
    return { file: file.id, path: entry.path, sha256: file.sha256, size: file.size };
  });
  const total = resolved.reduce((sum, entry) => sum + entry.size, 0);
  const cap = Math.min((policy.files ?? defaultFileLimits).maxInputBytes, policy.tmpfsBytes);
  if (total > cap) {
    throw invalidRequest(`the input files add up to ${total} bytes; at most ${cap} fit`, [
      { pointer: '/inputs', detail: `at most ${cap} bytes of input files in all` },
    ]);
  }
  return resolved;
}

/** /v1/jobs: submit a job, read its folded state, read its history. */
export function createJobsRoutes(deps: JobsRoutesDeps) {
  const submitBody = submitJobSchema.superRefine((spec, ctx) => {
    if (!findAllowedImage(deps.policy.allowedImages, spec.image)) {
      ctx.addIssue({
        code: 'custom',
        path: ['image'],
        message: `image is not on the allowlist (${deps.policy.allowedImages.join(', ')})`,
      });
    }
  });

  return new Hono<Env>()
    .post('/', requireScope('jobs:submit'), zValidator('json', submitBody, validationHook), async (c) => {
      const principal = c.get('principal');
      const input = c.req.valid('json');
      const webhooks = input.callback ? webhooksConfigured(deps) : undefined;
      if (input.callback && webhooks)
        refusePrivateTarget(input.callback.url, webhooks.allowPrivate, '/callback/url');
      const secretNames = Object.values(input.secrets ?? {});
      if (secretNames.length > 0 && !deps.secrets) {
        throw new ProblemError({
          status: 503,
          code: 'secrets-disabled',
          title: 'Secrets are not configured',
          detail: 'the operator has set no SECRETS_KEYS',
        });
      }
      const missing = deps.secrets ? await deps.secrets.missing(principal.tenant, secretNames) : [];
      if (missing.length > 0) {
        throw invalidRequest(
          'the job names secrets that do not exist',
          Object.entries(input.secrets ?? {})
            .filter(([, name]) => missing.includes(name))
            .map(([variable, name]) => ({
              pointer: `/secrets/${variable}`,
              detail: `secret ${name} does not exist`,
            })),
        );
      }
      const inputs = await resolveInputs(input, principal.tenant, deps.files, deps.policy);
      const idempotencyKey = parseIdempotencyKey(c.req.header('idempotency-key'));
      const id = randomUUID();
      const now = new Date();
      const { runAt, delayMs, expiresAt, ...specInput } = input;
      const command = {
        type: 'SubmitJob' as const,
        spec: resolveJobSpec(specInput, deps.policy, inputs),
        now,
        ...(runAt === undefined ? {} : { runAt: new Date(runAt) }),
        ...(delayMs === undefined ? {} : { runAt: new Date(now.getTime() + delayMs) }),
        ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt) }),
      };
      const metadata = auditMetadata(c, principal, { correlationId: id });
      if (idempotencyKey !== undefined) {
        if (!deps.db)
          throw new ProblemError({
            status: 503,
            code: 'idempotency-unavailable',
            title: 'Idempotency keys are not available here',
          });
        const outcome = await withIdempotencyKey(
          deps.db,
          { tenant: principal.tenant, key: idempotencyKey, hash: requestHash(input), jobId: id },
          async (trx) =>
            void (await executeJobCommand(
              createEventStore(trx, { schemas: eventReadSchemas }),
              id,
              command,
              metadata,
              newJob,
            )),
        );
        if (outcome.kind === 'replayed') {
          const { state } = await loadVisibleJob(deps.store, outcome.jobId, principal);
          if (state.status === 'initial') throw notFound();
          c.header('location', `/v1/jobs/${outcome.jobId}`);
          return c.json(toJobView(outcome.jobId, state), 200);
        }
      } else {
        // The id was generated above, so there is no stream to read: a collision would still fail the
        // append's expected version 0.
        await executeJobCommand(deps.store, id, command, metadata, newJob);
      }
      c.header('location', `/v1/jobs/${id}`);
      // The callback's signing secret leaves once, here (derived, so nothing was stored for it).
      const callback = webhooks ? { callback: { secret: webhooks.callbackSecret(id) } } : {};
      return c.json({ id, status: 'queued' as const, links: jobLinks(id), ...callback }, 202);
    })
    .get('/:id', requireScope('jobs:read'), zValidator('param', jobIdParam), async (c) => {
      const id = c.req.valid('param').id;
      const { state } = await loadVisibleJob(deps.store, id, c.get('principal'));
      if (state.status === 'initial') throw notFound();
      return c.json(toJobView(id, state));
    })
    .get(
      '/:id/events',
      requireScope('events:read'),
      zValidator('param', jobIdParam),
      zValidator('query', jobEventsQuerySchema, validationHook),
      async (c) => {
        const id = c.req.valid('param').id;
        const { after = 0, limit } = c.req.valid('query');
        const { events } = await loadVisibleJob(deps.store, id, c.get('principal'));
        const first = events.findIndex((event) => event.streamVersion > after);
        const start = first === -1 ? events.length : first;
        const page = events.slice(start, start + limit);
        const last = page.at(-1);
        // A long history is read a page at a time: `next` is the `after` of the following page.
        const next = last !== undefined && events.length > start + limit ? last.streamVersion : null;
        if (next !== null)
          c.header('link', `</v1/jobs/${id}/events?after=${next}&limit=${limit}>; rel="next"`);
        return c.json({ id, events: page.map(toEventView), next });
      },
    );
}
