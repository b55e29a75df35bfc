import { createRoute } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { createEventStore, type EventStore } from '../../events/event-store.ts';
import type { Database } from '../../events/tables.ts';
import { findUnstorableText } from '../../events/unstorable-text.ts';
import { jobDecider } from '../../jobs/job.decider.ts';
import { jobStreamId, toNewJobEvents } from '../../jobs/job-stream.ts';
import { jobLinks } from '../../jobs/job-view.ts';
import { eventReadSchemas } from '../../schemas/event-read-schemas.ts';
import type { SubmitJobInput } from '../../schemas/job-spec.schema.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { claimIdempotencyKey, idempotencyKeyPattern, requestHash } from './idempotency.ts';
import {
  type PreparedSubmission,
  prepareSubmission,
  type SubmissionDeps,
  submitBodySchema,
} from './job-submission.ts';
import { exampleJobId, exampleJobLinks } from './openapi-examples.ts';
import { jsonBody, jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { type FieldError, fieldErrors, invalidRequest, ProblemError } from './problem.ts';
import { validationHook } from './validation-hook.ts';

export interface JobBatchRoutesDeps extends SubmissionDeps {
  readonly store: EventStore;
  /** The one transaction a batch commits in (events and idempotency keys); absent: 503. */
  readonly db?: Kysely<Database>;
}

type Env = { Variables: AuthVariables & { requestId: string } };

/** The most jobs one batch may carry: a bigger one is refused whole, before anything is read. */
export const maxBatchJobs = 1000;

export const jobBatchBodySchema = z
  .object({
    // Each item is a job spec as POST /v1/jobs takes it, plus its own optional idempotencyKey;
    // validated one by one below, so a bad item names itself and refuses only itself.
    jobs: z
      .array(
        z.unknown().meta({
          description: 'A job spec as POST /v1/jobs takes it, with an optional idempotencyKey',
          allOf: [{ $ref: '#/components/schemas/JobSubmission' }],
        }),
      )
      .min(1)
      .max(maxBatchJobs),
    // All or nothing: any refused item refuses the batch and nothing is written.
    atomic: z.boolean().default(false),
  })
  .strict();

const refusal = z.object({
  status: z.number().int(),
  code: z.string(),
  title: z.string(),
  detail: z.string(),
  errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
});

export const jobBatchResultSchema = z
  .object({
    results: z.array(
      z.object({
        index: z.number().int().nonnegative(),
        // queued: accepted now; replayed: its idempotency key already named this job; refused: see problem.
        outcome: z.enum(['queued', 'replayed', 'refused']),
        id: z.string().nullable(),
        links: z.object({ self: z.string(), events: z.string(), output: z.string() }).optional(),
        problem: refusal.optional(),
        callback: z.object({ secret: z.string() }).optional(),
      }),
    ),
    summary: z.object({ queued: z.number().int(), replayed: z.number().int(), refused: z.number().int() }),
  })
  .meta({ id: 'JobBatchResult' });

const submitBatch = createRoute({
  method: 'post',
  path: '/batch',
  tags: ['jobs'],
  summary: `Submit up to ${maxBatchJobs} jobs in one request and one commit; each item is refused alone (or, atomic, refuses the batch)`,
  ...scoped('jobs:submit'),
  request: {
    body: jsonBody(jobBatchBodySchema, {
      jobs: [
        { image: 'omni-busybox:latest', command: ['echo', 'one'], idempotencyKey: 'nightly-2026-12-03-1' },
        { image: 'omni-busybox:latest', command: ['echo', 'two'], labels: { team: 'data' } },
      ],
      atomic: false,
    }),
  },
  responses: {
    200: jsonResponse(
      'One result per item, in the order sent: queued, replayed (its key named that job already) or refused',
      jobBatchResultSchema,
      {
        results: [
          {
            index: 0,
            outcome: 'queued',
            id: exampleJobId,
            links: { ...exampleJobLinks, output: `/v1/jobs/${exampleJobId}/output` },
          },
          {
            index: 1,
            outcome: 'refused',
            id: null,
            problem: {
              status: 400,
              code: 'validation-failed',
              title: 'The request is invalid',
              detail: 'one or more fields are invalid',
              errors: [
                { pointer: '/jobs/1/image', detail: 'image is not on the allowlist (omni-busybox:latest)' },
              ],
            },
          },
        ],
        summary: { queued: 1, replayed: 0, refused: 1 },
      },
    ),
    ...problems(400, 401, 403, 409, 413, 415, 429, 503),
  },
});
type BatchResult = z.infer<typeof jobBatchResultSchema>['results'][number];

/** An item that passed every check, ready for the batch's one transaction. */
interface Accepted {
  readonly index: number;
  readonly input: SubmitJobInput;
  readonly idempotencyKey?: string;
  readonly prepared: PreparedSubmission;
}

const prefixed = (index: number, errors: readonly FieldError[] | undefined): FieldError[] =>
  (errors ?? []).map((error) => ({
    ...error,
    pointer: `/jobs/${index}${error.pointer === '/' ? '' : error.pointer}`,
  }));

function refused(index: number, problem: ProblemError): BatchResult {
  return {
    index,
    outcome: 'refused',
    id: null,
    problem: {
      status: problem.status,
      code: problem.code,
      title: problem.title,
      detail: problem.message,
      ...(problem.errors ? { errors: prefixed(index, problem.errors) } : {}),
    },
  };
}

/** One item's own checks: its shape and bounds, its idempotency key, its secrets and files. */
async function checkItem(
  deps: JobBatchRoutesDeps,
  submitBody: ReturnType<typeof submitBodySchema>,
  principal: Parameters<typeof prepareSubmission>[1],
  item: unknown,
  index: number,
  now: Date,
): Promise<Accepted | BatchResult> {
  try {
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      throw invalidRequest('each item is a job spec object', [{ pointer: '/', detail: 'must be an object' }]);
    const { idempotencyKey, ...spec } = item as Record<string, unknown>;
    const keyErrors =
      idempotencyKey === undefined ||
      (typeof idempotencyKey === 'string' && idempotencyKeyPattern.test(idempotencyKey))
        ? []
        : [{ pointer: '/idempotencyKey', detail: 'must be 1 to 255 printable ASCII characters' }];
    const parsed = submitBody.safeParse(spec);
    const unstorable = findUnstorableText(spec).map((found) => ({
      pointer: found.pointer || '/',
      detail: found.detail,
    }));
    const errors = [...keyErrors, ...unstorable, ...(parsed.success ? [] : fieldErrors(parsed.error.issues))];
    if (!parsed.success || errors.length > 0) throw invalidRequest('one or more fields are invalid', errors);
    const prepared = await prepareSubmission(deps, principal, parsed.data, now);
    return {
      index,
      input: parsed.data,
      ...(typeof idempotencyKey === 'string' ? { idempotencyKey } : {}),
      prepared,
    };
  } catch (error) {
    if (error instanceof ProblemError) return refused(index, error);
    throw error;
  }
}

/** Runs `work` over `items` at most `width` at a time, keeping their order in the answer. */
async function inParallel<T, R>(
  items: readonly T[],
  width: number,
  work: (item: T, index: number) => Promise<R>,
) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < items.length; index = next++)
      results[index] = await work(items[index] as T, index);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return results;
}

class AtomicBatchRefused extends Error {}

/**
 * POST /v1/jobs/batch: up to `maxBatchJobs` jobs in one request and one commit. Each item is
 * checked as POST /v1/jobs checks a job; a bad item is refused alone with its own problem (pointers
 * under /jobs/<index>), unless the batch is `atomic`, when any refusal refuses it whole and nothing
 * is written. An item's idempotencyKey works as the header does for one job: the same key and body
 * again replays the job it named, another body is refused with idempotency-key-reused.
 */
export function createJobBatchRoutes(deps: JobBatchRoutesDeps) {
  const submitBody = submitBodySchema(deps.policy);
  return openApiRoutes<Env>().openapi(
    submitBatch,
    async (c) => {
      const { db } = deps;
      if (!db)
        throw new ProblemError({
          status: 503,
          code: 'batch-unavailable',
          title: 'Batch submission is not available here',
        });
      const principal = c.get('principal');
      const body = c.req.valid('json');
      const now = new Date();
      // Lookups of secrets and files run a few at a time; most items need none.
      const checked = await inParallel(body.jobs, 8, (item, index) =>
        checkItem(deps, submitBody, principal, item, index, now),
      );
      const refusedEarly = checked.filter((entry): entry is BatchResult => 'outcome' in entry);
      if (body.atomic && refusedEarly.length > 0) throw atomicRefusal(refusedEarly);
      const accepted = checked.filter((entry): entry is Accepted => !('outcome' in entry));

      const results: BatchResult[] = [...refusedEarly];
      try {
        await db.transaction().execute(async (trx) => {
          const toAppend: Accepted[] = [];
          for (const item of accepted) {
            if (item.idempotencyKey === undefined) {
              toAppend.push(item);
              continue;
            }
            try {
              const claim = await claimIdempotencyKey(trx, {
                tenant: principal.tenant,
                key: item.idempotencyKey,
                hash: requestHash(item.input),
                id: item.prepared.id,
              });
              if (claim.kind === 'created') toAppend.push(item);
              else
                results.push({
                  index: item.index,
                  outcome: 'replayed',
                  id: claim.id,
                  links: jobLinks(claim.id),
                });
            } catch (error) {
              if (!(error instanceof ProblemError)) throw error;
              results.push(refused(item.index, error));
            }
          }
          if (body.atomic && results.some((result) => result.outcome === 'refused'))
            throw new AtomicBatchRefused();
          const store = createEventStore(trx, { schemas: eventReadSchemas });
          const appended = await store.appendEach(
            toAppend.map((item) => ({
              streamId: jobStreamId(item.prepared.id),
              // A fresh id: no stream to read, and a collision would still fail expected version 0.
              expectedVersion: 0,
              events: toNewJobEvents(
                jobDecider.decide(item.prepared.command, jobDecider.initialState()),
                auditMetadata(c, principal, { correlationId: item.prepared.id }),
              ),
            })),
          );
          for (const [position, item] of toAppend.entries()) {
            const outcome = appended[position];
            // Refused by the store: a fresh id cannot conflict, so the log is unwell; nothing commits.
            if (outcome instanceof Error || outcome === undefined) throw outcome ?? new Error('not appended');
            results.push({
              index: item.index,
              outcome: 'queued',
              id: item.prepared.id,
              links: jobLinks(item.prepared.id),
              ...(item.prepared.callbackSecret === undefined
                ? {}
                : { callback: { secret: item.prepared.callbackSecret } }),
            });
          }
        });
      } catch (error) {
        if (error instanceof AtomicBatchRefused)
          throw atomicRefusal(results.filter((result) => result.outcome === 'refused'));
        throw error;
      }
      results.sort((a, b) => a.index - b.index);
      const count = (outcome: BatchResult['outcome']) =>
        results.filter((result) => result.outcome === outcome).length;
      return c.json(
        {
          results,
          summary: { queued: count('queued'), replayed: count('replayed'), refused: count('refused') },
        },
        200,
      );
    },
    (result) => {
      // The envelope only: items are judged one by one (their strings included) in the handler.
      if (!result.success) validationHook(result);
    },
  );
}

/** An atomic batch with refused items: one problem naming every refused field, nothing written. */
function atomicRefusal(refusedItems: readonly BatchResult[]): ProblemError {
  const conflict = refusedItems.every((item) => item.problem?.status === 409);
  return new ProblemError({
    status: conflict ? 409 : 400,
    code: 'batch-refused',
    title: 'The batch is refused',
    detail: `${refusedItems.length} of the batch's jobs were refused, so none was submitted (atomic)`,
    errors: refusedItems.flatMap((item) =>
      item.problem?.errors && item.problem.errors.length > 0
        ? item.problem.errors
        : [{ pointer: `/jobs/${item.index}`, detail: `${item.problem?.code}: ${item.problem?.detail}` }],
    ),
  });
}
