// The shapes of the API's answers the console reads (see GET /openapi.json); the console talks
// HTTP only and imports nothing from the server's folders.

export const jobStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobStatus = (typeof jobStatuses)[number];

export interface Me {
  readonly subject: string;
  readonly tenant: string;
  readonly scopes: readonly string[];
  readonly expiresAt: string | null;
}

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

export interface JobCounts {
  readonly counts: Readonly<Record<JobStatus, number>>;
  readonly total: number;
}

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
}

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

export interface QueueHealth {
  readonly tenants: ReadonlyArray<{ tenant: string; queued: number; running: number }>;
  readonly queued: number;
  readonly running: number;
  readonly schedulingDelay: {
    readonly windowSeconds: number;
    readonly started: number;
    readonly p50Ms: number | null;
    readonly p95Ms: number | null;
  };
}

export interface Problem {
  readonly title?: string;
  readonly detail?: string;
  readonly code?: string;
  readonly status?: number;
  readonly errors?: ReadonlyArray<{ pointer: string; detail: string }>;
}
