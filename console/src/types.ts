import type { components } from '../../client/index.ts';

// The shapes of the API's answers the console reads: from the client's types (generated from GET
// /openapi.json) where the document is exact, else written here for the fields the pages read. The
// console talks HTTP only, through the client, and imports nothing from the server's folders.

type Schemas = components['schemas'];

export const jobStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobStatus = (typeof jobStatuses)[number];

export type Me = Schemas['Me'];

export type Labels = Readonly<Record<string, string>>;

export interface JobRow {
  readonly id: string;
  readonly tenant?: string;
  readonly status: JobStatus;
  readonly image: string;
  readonly attempt: number;
  readonly submittedBy: string | null;
  readonly submittedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly exitCode: number | null;
  readonly failureReason: string | null;
  /** The command as one line of text (when the list carries it). */
  readonly command?: string;
  readonly labels?: Labels;
}

export interface JobList {
  readonly jobs: readonly JobRow[];
  readonly nextCursor: string | null;
}

export type JobCounts = Schemas['JobCounts'];

export interface JobView {
  readonly id: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly image: string;
  readonly imageId: string | null;
  readonly command: readonly string[];
  readonly limits?: { readonly memoryBytes?: number; readonly cpus?: number; readonly pids?: number };
  readonly timeoutMs?: number;
  readonly submittedBy: string | null;
  readonly submittedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  readonly exitCode: number | null;
  readonly failureReason: string | null;
  readonly cancelledBy: string | null;
  readonly runAt: string | null;
  readonly stdout: string | null;
  readonly stderr: string | null;
  readonly outputTruncated: boolean;
  readonly labels?: Labels;
  readonly inputs?: readonly JobInput[];
  readonly artifacts?: readonly JobArtifact[];
  /** The schedule and slot that submitted the job; null when a client did. */
  readonly schedule?: { readonly id: string; readonly slot: string } | null;
  /** Provenance of the last attempt: the OCI runtime, the warm or cold path, the OOM killer. */
  readonly runtime?: string | null;
  readonly sandboxPath?: 'warm' | 'cold' | null;
  readonly oom?: boolean | null;
  /** What the operator must do about a failure, in words (which image is missing, and why). */
  readonly failureMessage?: string | null;
  readonly inputDirectories?: readonly string[];
  readonly workingDir?: string;
}

/** GET /v1/schedules/:id: a recurring job, when it fires next and what it fired last. */
export interface ScheduleView {
  readonly id: string;
  readonly name: string | null;
  readonly status: 'active' | 'paused';
  readonly cron: string | null;
  readonly timeZone: string | null;
  readonly intervalMs: number | null;
  readonly catchUp: string;
  readonly maxCatchUp: number;
  readonly overlap: string;
  readonly job: { readonly image: string; readonly command: readonly string[] };
  readonly nextSlotAt: string | null;
  readonly lastFired: { readonly slot: string; readonly jobId: string } | null;
  readonly firedCount: number;
  readonly skippedCount: number;
  readonly createdAt: string;
}

export interface ScheduleList {
  readonly schedules: readonly ScheduleView[];
  readonly next: string | null;
}

/** An uploaded file placed in the sandbox before the command ran; `file` is its id in /v1/files. */
export interface JobInput {
  readonly file: string;
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** A file an attempt left in /out, kept as a file of its own. */
export interface JobArtifact {
  readonly attempt: number;
  readonly fileId: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
}

/** GET /v1/jobs/:id/at/:position: the job folded up to a position of the log. */
export interface JobAt {
  readonly position: number;
  readonly streamVersion: number;
  readonly job: JobView;
}

/** GET /v1/jobs/:id/verify: the job stream's hash chain recomputed by the database. */
export type JobVerification = Schemas['JobVerification'];

export interface LoggedEvent {
  readonly position: number | string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly eventId: string;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly recordedAt: string;
  readonly cursor?: string;
}

export interface JobEventsPage {
  readonly events: readonly LoggedEvent[];
  readonly next: number | null;
}

export interface EventsPage {
  readonly events: readonly LoggedEvent[];
  readonly next: string | null;
}

export interface OutputChunk {
  readonly version: number;
  readonly attempt: number;
  readonly seq: number;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

export type QueueHealth = Schemas['QueueHealth'];

export type WorkerHealth = QueueHealth['workers'][number];

/** Jobs finished in one minute, by outcome. */
export type ThroughputMinute = QueueHealth['throughput'][number];

export type { Problem } from '../../client/index.ts';
