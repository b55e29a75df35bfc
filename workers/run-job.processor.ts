import { isDeepStrictEqual } from 'node:util';
import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../events/database-errors.ts';
import type { EventMetadata, EventStore } from '../events/event-store.ts';
import { ConcurrencyError } from '../events/event-store-errors.ts';
import { contentTypeFor } from '../files/content-type.ts';
import { type FileCatalog, sha256Hex } from '../files/file-catalog.ts';
import {
  type AttemptResult,
  jobDecider,
  type RefusedOutput,
  type StoredArtifact,
} from '../jobs/job.decider.ts';
import { foldJob, type JobEventEnvelope } from '../jobs/job.evolve.ts';
import type { JobState } from '../jobs/job.state.ts';
import { JobDomainError } from '../jobs/job-domain-error.ts';
import {
  executeJobCommand,
  jobStreamId,
  type LoadedJob,
  loadJob,
  toJobHistory,
  toNewJobEvents,
} from '../jobs/job-stream.ts';
import type { JobEvent } from '../schemas/job-events.schema.ts';
import type { ResolvedJobSpec } from '../schemas/job-spec.schema.ts';
import { maskSecrets, type SecretVault } from '../secrets/secret-vault.ts';
import { createJobOutputAppender } from './job-output-appender.ts';
import { attemptMessageId, type RunJobMessage, runJobMessageSchema } from './job-queue.ts';
import type { AttemptControl, RunHandle } from './lifecycle/attempt-control.ts';
import {
  freeInterruptionsLeft,
  infrastructureRetryDelayMs,
  recordInterruptedAttempt,
  reportEngineFault,
} from './lifecycle/infrastructure-retry.ts';
import { keepTrying } from './lifecycle/keep-trying.ts';
import type { OutageGate } from './lifecycle/outage-gate.ts';
import type { TenantSlot, TenantSlots } from './lifecycle/tenant-slots.ts';
import { isEngineFault } from './sandbox/docker-errors.ts';
import type { CollectedOutputs } from './sandbox/output-files.ts';
import {
  type PreparedImage,
  type Sandbox,
  SandboxError,
  type SandboxInput,
  type SandboxResult,
} from './sandbox/sandbox.ts';

export interface RunJobProcessorDeps {
  readonly store: EventStore;
  readonly sandbox: Sandbox;
  readonly workerId: string;
  readonly logger: Logger;
  /** Decrypts the secrets a job names; absent when none are configured. */
  readonly secrets?: SecretVault;
  /** Bytes of uploaded inputs and the home of collected artifacts; absent: jobs exchanging files fail. */
  readonly files?: FileCatalog;
  /** Lets cancellation and shutdown stop a run; absent: runs are never stopped early. */
  readonly control?: AttemptControl;
  /** Per-tenant running limits; absent: no limit. */
  readonly tenantSlots?: TenantSlots;
  /** The worker's outage gate: while it is closed messages go back untouched. Absent: never closed. */
  readonly gate?: OutageGate;
  /**
   * Where this worker lists the attempts it holds (its lease row), so the reconciler can tell an
   * attempt a live worker lost from one it still runs; absent: nothing is listed.
   */
  readonly holdings?: AttemptHoldings;
  /** Injected for tests; default the system clock and Math.random. */
  readonly now?: () => Date;
  readonly random?: () => number;
}

/** The attempts this worker runs or keeps an outcome of, listed where the reconciler reads them. */
export interface AttemptHoldings {
  hold(jobId: string, attempt: number): Promise<void>;
  /**
   * Resolves once the drop is written (or its write failed; it is then tried again). Nobody needs
   * to wait for it: a later hold of the same attempt is never undone by it.
   */
  drop(jobId: string, attempt: number): Promise<void>;
}

/** How long a message waits before it is tried again when its tenant is at its limit. */
const tenantBusyDelayMs = 400;

/** The spec the container gets: secret values joined into its environment (and nowhere else). */
async function withSecrets(spec: ResolvedJobSpec, tenant: string, vault: SecretVault | undefined) {
  const wanted = Object.entries(spec.secrets ?? {});
  if (wanted.length === 0) return { spec, values: [] as string[] };
  if (!vault) throw new SandboxError('sandbox-failure', 'the job names secrets but none are configured');
  const revealed = await vault
    .reveal(
      tenant,
      wanted.map(([, name]) => name),
    )
    .catch((error: Error) => {
      // An outage is waited out by the caller; only a real refusal fails the attempt.
      if (isDatabaseUnavailable(error)) throw error;
      throw new SandboxError('sandbox-failure', `secrets unavailable: ${error.message}`);
    });
  const env = { ...spec.env };
  for (const [variable, name] of wanted) env[variable] = revealed.get(name) ?? '';
  return { spec: { ...spec, env }, values: [...revealed.values()] };
}

/** The bytes of the job's uploaded inputs, each checked against the hash recorded at submit. */
async function fetchInputs(
  spec: ResolvedJobSpec,
  tenant: string,
  files: FileCatalog | undefined,
): Promise<SandboxInput[]> {
  const inputs = spec.inputs ?? [];
  if (inputs.length === 0) return [];
  if (!files)
    throw new SandboxError('sandbox-failure', 'the job names input files but no file store is configured');
  return Promise.all(
    inputs.map(async (input) => {
      const content = await files.blob({ tenant, sha256: input.sha256 });
      if (content === undefined) {
        throw new SandboxError(
          'sandbox-failure',
          `input file ${input.file} (${input.path}) is no longer stored`,
        );
      }
      if (sha256Hex(content) !== input.sha256) {
        throw new SandboxError(
          'sandbox-failure',
          `input file ${input.file} does not match its recorded SHA-256`,
        );
      }
      return { path: input.path, content };
    }),
  );
}

/** Stores what the sandbox collected from /out; each stored file becomes an ArtifactStored event. */
async function storeArtifacts(
  outputs: CollectedOutputs | undefined,
  target: {
    readonly tenant: string;
    readonly jobId: string;
    readonly attempt: number;
    readonly workerId: string;
  },
  files: FileCatalog | undefined,
): Promise<{ artifacts: StoredArtifact[]; refusedOutputs: RefusedOutput[] }> {
  if (!outputs) return { artifacts: [], refusedOutputs: [] };
  const refusedOutputs: RefusedOutput[] = [...outputs.refused];
  const artifacts: StoredArtifact[] = [];
  for (const file of outputs.files) {
    if (!files) {
      refusedOutputs.push({ path: file.path, reason: 'unreadable', detail: 'no file store is configured' });
      continue;
    }
    const contentType = contentTypeFor(file.path);
    const stored = await files.storeArtifact({
      tenant: target.tenant,
      jobId: target.jobId,
      attempt: target.attempt,
      name: file.path.slice(file.path.lastIndexOf('/') + 1),
      contentType,
      content: file.content,
      createdBy: `worker:${target.workerId}`,
    });
    artifacts.push({
      fileId: stored.id,
      path: file.path,
      size: stored.size,
      sha256: stored.sha256,
      contentType,
    });
  }
  return { artifacts, refusedOutputs };
}

function toAttemptResult(result: SandboxResult): AttemptResult {
  return {
    reason: result.reason === 'cancelled' ? 'sandbox-error' : result.reason,
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    outputTruncated: result.outputTruncated,
    durationMs: result.durationMs,
    ...(result.peakMemoryBytes === undefined ? {} : { peakMemoryBytes: result.peakMemoryBytes }),
    ...(result.runtime === undefined ? {} : { runtime: result.runtime }),
    ...(result.path === undefined ? {} : { sandboxPath: result.path }),
    ...(result.oom === undefined ? {} : { oom: result.oom }),
  };
}

/** The image check before the start is recorded; a refusal still becomes a recorded attempt, never a lost job. */
async function prepareImage(
  sandbox: Sandbox,
  spec: Pick<ResolvedJobSpec, 'image'>,
): Promise<PreparedImage | SandboxError> {
  try {
    return await sandbox.prepare(spec);
  } catch (error) {
    if (error instanceof SandboxError) return error;
    throw error;
  }
}

/** What became of one delivered message (a message put back for later throws DelayedError instead). */
export type RunJobOutcome = 'ran' | 'dropped' | 'expired' | 'stopped';

/** Handles one delivered attempt message; the worker's BullMQ processor. */
export type RunJobProcessor = (
  message: Job<RunJobMessage>,
  token?: string,
  /** Frees the message's run slot: called once the run and its artifacts are done. */
  runEnded?: () => void,
) => Promise<RunJobOutcome>;

/**
 * Runs one queued attempt. BullMQ delivers at least once; appending `JobStarted` at the version
 * just read makes the run happen at most once: a duplicate delivery loses that race and is dropped.
 */
export function createRunJobProcessor(deps: RunJobProcessorDeps): RunJobProcessor {
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  // Puts the message back until `at`; BullMQ then treats the run as neither done nor failed.
  const later = async (
    message: Job<RunJobMessage>,
    token: string | undefined,
    at: number,
  ): Promise<never> => {
    await message.moveToDelayed(at, token);
    throw new DelayedError();
  };

  return async (message, token, runEnded) => {
    const { jobId, attempt, tenant, queued } = runJobMessageSchema.parse(message.data);
    const log = deps.logger.child({ jobId, attempt });
    // The engine (or Postgres) is down: the message goes back as it came, no attempt is spent.
    if (deps.gate && !deps.gate.isOpen())
      return later(message, token, Date.now() + infrastructureRetryDelayMs(random()));
    let slot: TenantSlot | undefined;
    // The tenant is on the message, so the limit is checked before any database read: a flooding
    // tenant's messages bounce cheaply.
    if (deps.tenantSlots) {
      slot = await deps.tenantSlots.acquire(tenant, attemptMessageId(jobId, attempt));
      if (!slot)
        return later(
          message,
          token,
          Date.now() + tenantBusyDelayMs + Math.round(random() * tenantBusyDelayMs),
        );
    }
    // Released once, when the run ends (the tenant's limit counts runs, as the worker's slots do) or
    // when the message is done with, whichever comes first.
    let tenantReleased: Promise<void> | undefined;
    const releaseTenant = () => {
      tenantReleased ??= slot
        ?.release()
        .catch((error: unknown) => log.warn({ err: error }, 'could not release the tenant slot'));
      return tenantReleased;
    };
    const ended = () => {
      runEnded?.();
      void releaseTenant();
    };
    try {
      const started = queued && (await startAsQueued(message, token, queued, jobId, attempt, log, ended));
      if (started) return started;
      return await runQueuedAttempt(message, token, jobId, attempt, log, ended);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      // Postgres is down (reading the job, recording its start): not the job's failure. The message
      // goes back rather than failing (a failed message keeps its id and blocks a re-add), no attempt
      // is spent, and the gate stops this worker fetching until Postgres answers. A redelivery of an
      // attempt that did start finds it running and is dropped; the reconciler sees to that one.
      deps.gate?.report('postgres', error);
      log.info(
        { cause: (error as Error).message },
        'Postgres is unreachable; the message goes back to the queue',
      );
      return later(message, token, Date.now() + infrastructureRetryDelayMs(random()));
    } finally {
      await releaseTenant();
    }
  };

  /**
   * The attempt's hold, written while its start is appended rather than before it: one round trip
   * off every start. The reconciler abandons a live worker's running attempt only once it has gone
   * unheld for 30 s, and the hold lands within milliseconds of the start, or (should Postgres fail
   * between the two) is written again within 5 s of its return, long before that.
   */
  function holdWhileStarting(jobId: string, attempt: number, log: Logger) {
    const holding = deps.holdings?.hold(jobId, attempt);
    // Answered below, whichever way the start goes; never an unhandled rejection.
    holding?.catch(() => undefined);
    const holdings = deps.holdings;
    return {
      /** Not waited for: the holdings gather drops, and a message kept in hand would hold back the next fetch. */
      drop: () => {
        void holdings?.drop(jobId, attempt);
      },
      /** The start was refused or failed: the hold, once written, goes. */
      refused: async () => {
        await holding?.catch(() => undefined);
        void holdings?.drop(jobId, attempt);
      },
      /** The start is in the log: a hold that failed is written again until it lands. */
      started: () => {
        holding?.catch((error: unknown) => {
          if (!holdings) return;
          log.warn(
            { err: error },
            'could not hold the started attempt; holding it again until Postgres answers',
          );
          void keepTrying(() => holdings.hold(jobId, attempt), { giveUp: () => false }).catch(
            (failure: unknown) => log.error({ err: failure }, 'could not hold the started attempt'),
          );
        });
      },
    };
  }

  /**
   * Starts the attempt at the version its message was queued at, reading the job's history in the
   * statement that appends JobStarted: one round trip where a read and an append took two. The
   * version check decides as the read would have: the stream is exactly as the dispatcher saw it,
   * where this attempt was queued. Undefined when the stream moved since (a cancel, another
   * delivery's start), or the message waits or has expired: the caller then reads and decides.
   */
  async function startAsQueued(
    message: Job<RunJobMessage>,
    token: string | undefined,
    queued: NonNullable<RunJobMessage['queued']>,
    jobId: string,
    attempt: number,
    log: Logger,
    runEnded: (() => void) | undefined,
  ): Promise<RunJobOutcome | undefined> {
    const at = now().getTime();
    if (queued.expiresAtMs !== undefined && queued.expiresAtMs <= at) return undefined;
    if (queued.dueAtMs !== undefined && queued.dueAtMs > at + 50) return undefined;
    const metadata: EventMetadata = {
      actor: `worker:${deps.workerId}`,
      correlationId: jobId,
      causationId: queued.causationId,
    };
    const image = await prepareImage(deps.sandbox, { image: queued.image });
    if (isEngineFault(image)) {
      reportEngineFault(deps.gate, log, image, 'before the attempt started; it goes back to the queue');
      return later(message, token, Date.now() + infrastructureRetryDelayMs(random()));
    }
    const imageId = image instanceof SandboxError ? {} : { imageId: image.imageId };
    const command = { type: 'StartAttempt', attempt, workerId: deps.workerId, ...imageId } as const;
    // What the decider decides for any job queued at this attempt; checked against the real
    // state below, once the history is in hand.
    const decided = jobDecider.decide(command, { status: 'queued', attempt } as JobState);

    const hold = holdWhileStarting(jobId, attempt, log);
    const dropHold = hold.drop;
    let appended: Awaited<ReturnType<EventStore['appendReadingHistory']>>;
    try {
      appended = await deps.store.appendReadingHistory(
        jobStreamId(jobId),
        queued.version,
        toNewJobEvents(decided, metadata),
      );
    } catch (error) {
      await hold.refused();
      if (error instanceof ConcurrencyError) return undefined;
      throw error;
    }
    hold.started();
    let loaded: LoadedJob;
    try {
      loaded = {
        state: foldJob(jobDecider.initialState(), toJobHistory(appended.history)),
        version: queued.version,
        events: appended.history,
      };
    } catch (error) {
      // Started, but the history cannot be read: unheld, the reconciler abandons the attempt.
      log.error({ err: error }, 'the job was started but its history cannot be read; the reconciler ends it');
      dropHold();
      return 'dropped';
    }
    const state = loaded.state;
    // Only a defect can fail these (a message that misstates the stream it was queued from).
    if (
      state.status !== 'queued' ||
      state.attempt !== attempt ||
      !isDeepStrictEqual(jobDecider.decide(command, state), decided)
    ) {
      log.error(
        { status: state.status, version: queued.version },
        'the queued message does not match the job it started; the reconciler ends the attempt',
      );
      dropHold();
      return 'dropped';
    }
    // Started from a message that misstates the job (another image, or a cause that is not its
    // JobSubmitted): recorded as the attempt's sandbox error, so the record never claims a run of
    // another image, and the retry (queued from the log) is right.
    const misstated =
      state.spec.image !== queued.image
        ? `named image ${queued.image}, the job ${state.spec.image}`
        : loaded.events[0]?.eventId !== queued.causationId
          ? `named cause ${queued.causationId}, not the job's JobSubmitted`
          : undefined;
    const checkedImage = misstated
      ? new SandboxError('sandbox-failure', `the queued message ${misstated}; nothing was run`)
      : image;
    return runHeldAttempt({
      message,
      token,
      jobId,
      attempt,
      log,
      loaded: { ...loaded, state },
      metadata,
      image: checkedImage,
      imageId,
      version: appended.appended.nextExpectedVersion,
      decided,
      dropHold,
      runEnded,
    });
  }

  /** From JobStarted on, however the start was appended: the run, then its outcome. The hold ends with it. */
  async function runHeldAttempt(held: {
    readonly message: Job<RunJobMessage>;
    readonly token: string | undefined;
    readonly jobId: string;
    readonly attempt: number;
    readonly log: Logger;
    readonly loaded: LoadedJob & { readonly state: Extract<LoadedJob['state'], { status: 'queued' }> };
    readonly metadata: EventMetadata;
    readonly image: PreparedImage | SandboxError;
    readonly imageId: { imageId?: string };
    readonly version: number;
    readonly decided: readonly JobEvent[];
    readonly dropHold: () => void;
    readonly runEnded: (() => void) | undefined;
  }): Promise<'ran' | 'stopped'> {
    const startedEvents = held.decided.map((event) => ({ ...event, recordedAt: now() }) as JobEventEnvelope);
    // The run handle stays open until the outcome is in the log: a shutdown's grace ending is
    // what tells the recording to give up.
    const handle = deps.control?.begin(held.jobId, held.attempt);
    try {
      return await runStartedAttempt({
        message: held.message,
        token: held.token,
        interruptible: freeInterruptionsLeft(held.loaded.events, held.attempt),
        jobId: held.jobId,
        attempt: held.attempt,
        log: held.log,
        queued: held.loaded.state,
        metadata: held.metadata,
        image: held.image,
        imageId: held.imageId,
        version: held.version,
        startedEvents,
        handle,
        runEnded: held.runEnded,
      });
    } finally {
      handle?.end();
      held.dropHold();
    }
  }

  async function runQueuedAttempt(
    message: Job<RunJobMessage>,
    token: string | undefined,
    jobId: string,
    attempt: number,
    log: Logger,
    runEnded: (() => void) | undefined,
  ): Promise<RunJobOutcome> {
    const loaded = await loadJob(deps.store, jobId);
    if (loaded.state.status !== 'queued' || loaded.state.attempt !== attempt) {
      log.info({ status: loaded.state.status }, 'attempt is not waiting to run; dropping the message');
      return 'dropped';
    }
    const queued = loaded.state;
    if (queued.expiresAt && queued.expiresAt <= now()) {
      await executeJobCommand(
        deps.store,
        jobId,
        { type: 'ExpireAttempt', attempt, now: now() },
        { actor: `worker:${deps.workerId}`, correlationId: jobId },
        loaded,
      ).catch((error: unknown) => {
        if (!(error instanceof ConcurrencyError || error instanceof JobDomainError)) throw error;
      });
      log.info('attempt waited past its queue deadline; expired');
      return 'expired';
    }
    // A message re-derived without its delay (or a clock ahead of the dispatcher's) waits its turn.
    if (queued.dueAt && queued.dueAt.getTime() > now().getTime() + 50)
      return later(message, token, queued.dueAt.getTime());
    const spec = loaded.state.spec;
    const submitted = loaded.events[0];
    const metadata: EventMetadata = {
      actor: `worker:${deps.workerId}`,
      correlationId: jobId,
      ...(submitted ? { causationId: submitted.eventId } : {}),
    };

    // The image id recorded on JobStarted is the one run() is then told to use.
    const image = await prepareImage(deps.sandbox, spec);
    if (isEngineFault(image)) {
      // Our engine failed, not the job: nothing is recorded and the message goes back.
      reportEngineFault(deps.gate, log, image, 'before the attempt started; it goes back to the queue');
      return later(message, token, Date.now() + infrastructureRetryDelayMs(random()));
    }
    const imageId = image instanceof SandboxError ? {} : { imageId: image.imageId };

    const hold = holdWhileStarting(jobId, attempt, log);
    const dropHold = hold.drop;
    let version: number;
    let decided: readonly JobEvent[];
    try {
      ({ version, events: decided } = await executeJobCommand(
        deps.store,
        jobId,
        { type: 'StartAttempt', attempt, workerId: deps.workerId, ...imageId },
        metadata,
        loaded,
      ));
    } catch (error) {
      await hold.refused();
      if (error instanceof ConcurrencyError || error instanceof JobDomainError) {
        log.info('another delivery started this attempt; dropping the message');
        return 'dropped';
      }
      throw error;
    }
    hold.started();
    return runHeldAttempt({
      message,
      token,
      jobId,
      attempt,
      log,
      loaded: { ...loaded, state: queued },
      metadata,
      image,
      imageId,
      version,
      decided,
      dropHold,
      runEnded,
    });
  }

  async function runStartedAttempt(started: {
    readonly message: Job<RunJobMessage>;
    readonly token: string | undefined;
    /** Whether an engine fault may still end this attempt at no cost (see freeInterruptionsLeft). */
    readonly interruptible: boolean;
    readonly jobId: string;
    readonly attempt: number;
    readonly log: Logger;
    readonly queued: Extract<LoadedJob['state'], { status: 'queued' }>;
    readonly metadata: EventMetadata;
    readonly image: PreparedImage | SandboxError;
    readonly imageId: { imageId?: string };
    readonly version: number;
    readonly startedEvents: readonly JobEventEnvelope[];
    readonly handle: RunHandle | undefined;
    readonly runEnded: (() => void) | undefined;
  }): Promise<'ran' | 'stopped'> {
    const { jobId, attempt, log, queued, metadata, image, imageId, version, startedEvents, handle } = started;
    const spec = queued.spec;
    let result: AttemptResult;
    let outputStored = 0;
    let engineFault: SandboxError | undefined;
    try {
      if (image instanceof SandboxError) throw image;
      // Secrets and inputs are read from Postgres: an outage here waits (the attempt is held, no
      // container runs yet) instead of failing the attempt as a sandbox error.
      const read = await keepTrying(
        async () => ({
          prepared: await withSecrets(spec, queued.tenant, deps.secrets),
          inputs: await fetchInputs(spec, queued.tenant, deps.files),
        }),
        {
          giveUp: () => handle?.stoppedBecause() !== undefined,
          ...(handle ? { signal: handle.signal } : {}),
          onRetry: (error, tries) => {
            if (tries === 1)
              log.warn(
                { err: error },
                'Postgres is unreachable: the attempt waits for its secrets and inputs',
              );
          },
        },
      );
      if (read.status === 'gave-up') throw read.error;
      const { prepared, inputs } = read.value;
      const output = createJobOutputAppender({
        store: deps.store,
        jobId,
        attempt,
        metadata,
        secretValues: prepared.values,
        logger: log,
      });
      const ran = await deps.sandbox
        .run({
          spec: prepared.spec,
          labels: { jobId, attempt, workerId: deps.workerId },
          ...imageId,
          ...(inputs.length > 0 ? { inputs } : {}),
          secretValues: prepared.values,
          onOutput: output.push,
          ...(handle ? { signal: handle.signal } : {}),
        })
        .finally(() => output.finish());
      const run = toAttemptResult(ran);
      outputStored = output.stored();
      // Part of the outcome: kept and retried through an outage like the result itself (a retry
      // after a partial store leaves unreferenced blobs, never a wrong record).
      const storing = await keepTrying(
        () =>
          storeArtifacts(
            ran.outputs,
            { tenant: queued.tenant, jobId, attempt, workerId: deps.workerId },
            deps.files,
          ),
        {
          giveUp: () => handle?.stoppedBecause() === 'shutdown',
          ...(handle ? { signal: handle.signal } : {}),
        },
      );
      if (storing.status === 'gave-up') throw storing.error;
      const collected = storing.value;
      // Output is stored in the log for good: a secret the job printed must not land there.
      result = {
        ...run,
        ...(collected.artifacts.length > 0 ? { artifacts: collected.artifacts } : {}),
        ...(collected.refusedOutputs.length > 0 ? { refusedOutputs: collected.refusedOutputs } : {}),
        stdout: maskSecrets(run.stdout, prepared.values),
        stderr: maskSecrets(run.stderr, prepared.values),
      };
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      // daemon-unavailable: the engine is unreachable or hung (see isEngineFault).
      if (error.code === 'daemon-unavailable') engineFault = error;
      else log.warn({ code: error.code, err: error }, 'sandbox failed');
      result = {
        // An image the engine lacks or holds under another digest is named as such: no retry
        // can mend it, and the job view says what the operator must do.
        reason:
          error.code === 'image-missing' || error.code === 'image-digest-mismatch'
            ? error.code
            : 'sandbox-error',
        exitCode: null,
        stdout: '',
        stderr: '',
        outputTruncated: false,
        durationMs: 0,
        message: `${error.code}: ${error.message}`,
      };
    }

    // The container is gone and its artifacts stored: what is left is recording, which needs no slot.
    started.runEnded?.();

    // Artifacts are stored before their ArtifactStored events; when no result is recorded they go.
    const discardArtifacts = async () => {
      const ids = (result.artifacts ?? []).map((artifact) => artifact.fileId);
      if (ids.length > 0)
        await deps.files?.discardArtifacts(queued.tenant, ids).catch((error: unknown) => {
          // Unreferenced blobs cost space, not correctness: nothing in the log names them.
          if (!isDatabaseUnavailable(error)) throw error;
          log.warn({ err: error }, 'could not discard the artifacts of an unrecorded attempt');
        });
    };
    const stopped = handle?.stoppedBecause();
    if (stopped === 'cancelled') {
      await discardArtifacts();
      // JobCancelled is already the record of this run; the container is gone.
      log.info({ durationMs: result.durationMs }, 'attempt cancelled while running; container killed');
      return 'stopped';
    }
    if (engineFault && started.interruptible) {
      // The engine went away or hung mid-attempt: our outage, not the job's failure. The same
      // attempt is queued again at no cost, this worker stops taking work until the engine
      // answers, and the container (if any is left) is the reaper's.
      reportEngineFault(
        deps.gate,
        log,
        engineFault,
        'during the attempt; it runs again at no cost to its retries',
      );
      const dueAt = await recordInterruptedAttempt({
        store: deps.store,
        jobId,
        attempt,
        workerId: deps.workerId,
        metadata,
        cause: engineFault,
        now: now(),
        random: random(),
      });
      await discardArtifacts();
      if (!dueAt) return 'stopped';
      return later(started.message, started.token, dueAt.getTime());
    }
    if (engineFault) {
      // Free interruptions of this attempt used up: recorded as its sandbox-error; the outage still pauses the worker.
      deps.gate?.report('docker', engineFault);
      log.warn({ code: engineFault.code, err: engineFault }, 'sandbox failed');
    }
    if (stopped === 'shutdown') {
      const command = {
        type: 'AbandonAttempt',
        attempt,
        workerId: deps.workerId,
        reason: 'shutdown',
        now: now(),
        random: random(),
      } as const;
      const abandoned = await executeJobCommand(deps.store, jobId, command, metadata).then(
        () => true,
        (error: unknown) => {
          if (error instanceof ConcurrencyError || error instanceof JobDomainError) return true;
          // The grace is over: no retry. The lease goes with the worker and the reconciler records it.
          if (isDatabaseUnavailable(error)) return false;
          throw error;
        },
      );
      await discardArtifacts();
      if (abandoned) log.warn('worker shut down during the attempt; recorded it as abandoned');
      else
        log.error(
          'worker shut down during the attempt and Postgres is unreachable; the reconciler will record it abandoned',
        );
      return 'stopped';
    }

    const complete = { type: 'CompleteAttempt', attempt, result, now: now(), random: random() } as const;
    // One try at recording the result: at the version assumed (first try) or read back (after a
    // conflict, or after an outage, where the try before may have committed unseen).
    const recordResult = async (from: LoadedJob | undefined): Promise<'ran' | 'stopped'> => {
      if (from) {
        const appended = await executeJobCommand(deps.store, jobId, complete, metadata, from).then(
          () => true,
          (error: unknown) => {
            if (error instanceof ConcurrencyError) return false;
            throw error;
          },
        );
        if (appended) return 'ran';
      }
      const after = await loadJob(deps.store, jobId);
      // Our own JobOutput chunks move the version too; only someone else's event is news.
      const others = after.events.filter(
        (event) => event.streamVersion > version && event.type !== 'JobOutput',
      );
      // A try that committed while its connection died: the result is in, nothing more to do.
      const ours = others.some(
        (event) =>
          (event.type === 'JobSucceeded' || event.type === 'JobFailed') &&
          (event.data as { attempt?: unknown }).attempt === attempt &&
          event.metadata.actor === metadata.actor,
      );
      if (ours) return 'ran';
      if (others.length > 0) log.warn({ stream: jobStreamId(jobId) }, 'the job changed while it ran');
      if (after.state.status !== 'running' || after.state.attempt !== attempt) {
        // Cancelled (or abandoned by a reconciler that thought this worker dead) meanwhile.
        log.info(
          { status: after.state.status },
          'the attempt was ended elsewhere; its result is not recorded',
        );
        await discardArtifacts();
        return 'stopped';
      }
      await executeJobCommand(deps.store, jobId, complete, metadata, after);
      return 'ran';
    };
    // Usually nothing but our own output reached the stream since JobStarted: the result is appended
    // at that version without reading the stream back. Anything else there (a cancel, an abandonment
    // by a reconciler that thought this worker dead) fails the version check; then the stream is read.
    const assumed: LoadedJob = {
      state: foldJob(queued, startedEvents),
      version: version + outputStored,
      events: [],
    };
    // The container is gone and only this process knows the outcome: kept and written again with
    // backoff while Postgres is unreachable, until it lands or the shutdown grace ends.
    const outcome = { reason: result.reason, exitCode: result.exitCode, durationMs: result.durationMs };
    let first = true;
    const kept = await keepTrying(() => recordResult(first ? assumed : undefined), {
      giveUp: () => handle?.stoppedBecause() === 'shutdown',
      ...(handle ? { signal: handle.signal } : {}),
      onRetry: (error, tries) => {
        first = false;
        if (tries === 1)
          log.warn(
            { err: error, outcome },
            "Postgres is unreachable: keeping the attempt's outcome and retrying until it is recorded",
          );
      },
    });
    if (kept.status === 'gave-up') {
      log.error(
        { err: kept.error, outcome, tries: kept.tries },
        "shutdown grace over before the attempt's outcome reached the log; it is lost and the reconciler will record the attempt abandoned",
      );
      return 'stopped';
    }
    if (kept.tries > 1) log.info({ tries: kept.tries }, "the attempt's outcome is recorded after the outage");
    if (kept.value === 'stopped') return 'stopped';
    log.info(
      { reason: result.reason, exitCode: result.exitCode, durationMs: result.durationMs },
      'attempt finished',
    );
    return 'ran';
  }
}
