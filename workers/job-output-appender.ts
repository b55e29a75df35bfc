import type { Logger } from 'pino';
import type { EventMetadata, EventStore } from '../events/event-store.ts';
import { attemptCaps } from '../jobs/attempt-caps.ts';
import { jobStreamId } from '../jobs/job-stream.ts';
import { jobEventSchemas } from '../schemas/job-events.schema.ts';
import { createStreamMasker, type StreamMasker } from '../secrets/mask-stream.ts';
import type { SandboxOutputChunk } from './sandbox/sandbox.ts';

export interface JobOutputAppenderDeps {
  readonly store: EventStore;
  readonly jobId: string;
  readonly attempt: number;
  readonly metadata: EventMetadata;
  /** Secret values the job was given: masked in every chunk, even one split across two chunks. */
  readonly secretValues: readonly string[];
  readonly logger: Logger;
  /** JobOutput events this attempt may append (default `attemptCaps.outputEvents`, at least 3). */
  readonly maxEvents?: number;
}

export interface JobOutputAppender {
  /** Queues one chunk; called synchronously by the sandbox, never throws. */
  push(chunk: SandboxOutputChunk): void;
  /** Appends what masking held back and waits for every queued append. */
  finish(): Promise<void>;
  /** How many chunks are known to be stored: those whose append returned. */
  stored(): number;
}

/**
 * Appends live output as ordered `JobOutput` events (seq from 0). Appends are chained, so the log
 * holds chunks in the order the job wrote them; they use no expected version, because a cancel
 * from the API may land between them and output is a fact either way. The run's start stays
 * exactly-once: JobStarted was appended at the version read before any chunk exists.
 *
 * Bytes are capped before they get here (the sandbox's output limit); the number of events is
 * capped here: a job that alternates streams or trickles a byte at a time makes one chunk per
 * switch or batch, and every read of the job folds them all. Past `maxEvents - 2` chunks the rest
 * is held and appended when the attempt ends, one event per stream: late, but all of it.
 */
export function createJobOutputAppender(deps: JobOutputAppenderDeps): JobOutputAppender {
  const maskers: Record<SandboxOutputChunk['stream'], StreamMasker> = {
    stdout: createStreamMasker(deps.secretValues),
    stderr: createStreamMasker(deps.secretValues),
  };
  const liveEvents = Math.max(deps.maxEvents ?? attemptCaps.outputEvents, 3) - 2;
  const held: Record<SandboxOutputChunk['stream'], string> = { stdout: '', stderr: '' };
  let seq = 0;
  let stored = 0;
  let chain: Promise<void> = Promise.resolve();
  let failed = false;

  const append = (stream: SandboxOutputChunk['stream'], text: string): void => {
    if (text === '') return;
    if (seq >= liveEvents) {
      held[stream] += text;
      return;
    }
    appendNow(stream, text);
  };

  const appendNow = (stream: SandboxOutputChunk['stream'], text: string): void => {
    if (text === '') return;
    const data = { attempt: deps.attempt, seq, stream, text };
    seq += 1;
    chain = chain.then(async () => {
      // After one failure the live feed has a gap; the final event still carries the whole output.
      if (failed) return;
      try {
        await deps.store.append(jobStreamId(deps.jobId), null, [
          {
            type: 'JobOutput',
            schemaVersion: jobEventSchemas.JobOutput.version,
            data,
            metadata: deps.metadata,
          },
        ]);
        stored += 1;
      } catch (error) {
        failed = true;
        deps.logger.warn(
          { err: error, seq: data.seq },
          'appending live output failed; the live feed stops here',
        );
      }
    });
  };

  return {
    push(chunk) {
      append(chunk.stream, maskers[chunk.stream].push(chunk.text));
    },
    async finish() {
      append('stdout', maskers.stdout.end());
      append('stderr', maskers.stderr.end());
      appendNow('stdout', held.stdout);
      appendNow('stderr', held.stderr);
      held.stdout = '';
      held.stderr = '';
      await chain;
    },
    stored: () => stored,
  };
}
