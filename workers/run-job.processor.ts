import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { EventMetadata, EventStore } from '../events/event-store.ts';
import { ConcurrencyError } from '../events/event-store-errors.ts';
import { JobDomainError } from '../events/job/job-domain-error.ts';
import type { AttemptResult } from '../events/job/job.decider.ts';
import { executeJobCommand, jobStreamId, loadJob } from '../events/job/job-stream.ts';
import type { ResolvedJobSpec } from '../schemas/job-spec.schema.ts';
import { maskSecrets, type SecretVault } from '../services/secrets/secret-vault.ts';
import { type RunJobMessage, runJobMessageSchema } from './job-queue.ts';
import { type Sandbox, SandboxError, type SandboxResult } from './sandbox/sandbox.ts';

export interface RunJobProcessorDeps {
  readonly store: EventStore;
  readonly sandbox: Sandbox;
  readonly workerId: string;
  readonly logger: Logger;
  /** Decrypts the secrets a job names; absent when none are configured. */
  readonly secrets?: SecretVault;
}

/** The spec the container gets: secret values joined into its environment (and nowhere else). */
async function withSecrets(spec: ResolvedJobSpec, tenant: string, vault: SecretVault | undefined) {
  const wanted = Object.entries(spec.secrets ?? {});
  if (wanted.length === 0) return { spec, values: [] as string[] };
  if (!vault) throw new SandboxError('sandbox-failure', 'the job names secrets but none are configured');
  const revealed = await vault.reveal(tenant, wanted.map(([, name]) => name)).catch((error: Error) => {
    throw new SandboxError('sandbox-failure', `secrets unavailable: ${error.message}`);
  });
  const env = { ...spec.env };
  for (const [variable, name] of wanted) env[variable] = revealed.get(name) ?? '';
  return { spec: { ...spec, env }, values: [...revealed.values()] };
}

function toAttemptResult(result: SandboxResult): AttemptResult {
  return {
    reason: result.reason === 'cancelled' ? 'sandbox-error' : result.reason,
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    outputTruncated: result.outputTruncated,
    durationMs: result.durationMs,
  };
}

/**
 * Runs one queued attempt. BullMQ delivers at least once; appending `JobStarted` at the version
 * just read makes the run happen at most once: a duplicate delivery loses that race and is dropped.
 */
export function createRunJobProcessor(deps: RunJobProcessorDeps) {
  return async (message: Job<RunJobMessage>): Promise<'ran' | 'dropped'> => {
    const { jobId, attempt } = runJobMessageSchema.parse(message.data);
    const log = deps.logger.child({ jobId, attempt });
    const loaded = await loadJob(deps.store, jobId);
    if (loaded.state.status !== 'queued' || loaded.state.attempt !== attempt) {
      log.info({ status: loaded.state.status }, 'attempt is not waiting to run; dropping the message');
      return 'dropped';
    }
    const spec = loaded.state.spec;
    const submitted = loaded.events[0];
    const metadata: EventMetadata = {
      actor: `worker:${deps.workerId}`,
      correlationId: jobId,
      ...(submitted ? { causationId: submitted.eventId } : {}),
    };

    let version: number;
    try {
      ({ version } = await executeJobCommand(deps.store, jobId, { type: 'StartAttempt', attempt, workerId: deps.workerId }, metadata, loaded));
    } catch (error) {
      if (error instanceof ConcurrencyError || error instanceof JobDomainError) {
        log.info('another delivery started this attempt; dropping the message');
        return 'dropped';
      }
      throw error;
    }

    let result: AttemptResult;
    try {
      const prepared = await withSecrets(spec, loaded.state.tenant, deps.secrets);
      const run = toAttemptResult(await deps.sandbox.run({ spec: prepared.spec, labels: { jobId, attempt, workerId: deps.workerId } }));
      // Output is stored in the log for good: a secret the job printed must not land there.
      result = { ...run, stdout: maskSecrets(run.stdout, prepared.values), stderr: maskSecrets(run.stderr, prepared.values) };
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      log.warn({ code: error.code, err: error }, 'sandbox failed');
      result = { reason: 'sandbox-error', exitCode: null, stdout: '', stderr: '', outputTruncated: false, durationMs: 0, message: `${error.code}: ${error.message}` };
    }

    const after = await loadJob(deps.store, jobId);
    if (after.version !== version) log.warn({ stream: jobStreamId(jobId) }, 'the job changed while it ran');
    await executeJobCommand(deps.store, jobId, { type: 'CompleteAttempt', attempt, result }, metadata, after);
    log.info({ reason: result.reason, exitCode: result.exitCode, durationMs: result.durationMs }, 'attempt finished');
    return 'ran';
  };
}
