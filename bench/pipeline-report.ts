// The pipeline bench's printout at one slot count: a Markdown table of every system, omni's ratio to
// the faster Postgres queue against the goal, and how many worker machines one Postgres core feeds.
import type { ConsumerKind, CpuSplit, SlotTime } from './pipeline-system.ts';

/** One system's figures over its measured rounds; CPU in milliseconds per job. */
export interface SystemFigures {
  readonly label: string;
  readonly consumer: ConsumerKind;
  readonly postgres: boolean;
  readonly slots: number;
  readonly jobsPerSecond: number;
  readonly cpuMs: CpuSplit;
  readonly commitsPerJob: number;
  readonly slot?: SlotTime;
}

/** The goal of issue 19: omni (HTTP included) at least this many times the faster of pg-boss and Graphile Worker. */
const goalRatio = 1.5;

export const systemCpuMs = (figures: SystemFigures) =>
  figures.cpuMs.main +
  figures.cpuMs.consumer +
  figures.cpuMs.otherThreads +
  figures.cpuMs.postgres +
  figures.cpuMs.redis;

const ms = (value: number) => `${value.toFixed(2)} ms`;
const whole = (value: number) => Math.round(value).toLocaleString('en-US');

export interface ReportOptions {
  /** Jobs/s one worker machine runs through its sandbox (the assumption the feed figure rests on). */
  readonly sandboxJobsPerSecond: number;
}

export function printSlotReport(systems: readonly SystemFigures[], options: ReportOptions): void {
  const slots = systems[0]?.slots;
  console.log(
    `\n${slots} worker slots (CPU per job: main thread / consumer thread / other Node threads / Postgres / Redis)`,
  );
  console.log(
    '| system | slots | jobs/s | CPU per job | main | consumer | other | Postgres | Redis | commits per job |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const s of systems) {
    console.log(
      `| ${s.label} | ${s.slots} | ${whole(s.jobsPerSecond)} | ${ms(systemCpuMs(s))} | ${ms(s.cpuMs.main)} | ` +
        `${ms(s.cpuMs.consumer)} | ${ms(s.cpuMs.otherThreads)} | ${s.postgres ? ms(s.cpuMs.postgres) : '–'} | ` +
        `${s.cpuMs.redis > 0 ? ms(s.cpuMs.redis) : '–'} | ${s.postgres ? s.commitsPerJob.toFixed(1) : '–'} |`,
    );
  }
  const omniHttp = systems.find((s) => s.consumer === 'omni' && s.cpuMs.loadGenerator > 0);
  const omniDirect = systems.find((s) => s.consumer === 'omni' && s.cpuMs.loadGenerator === 0);
  if (omniHttp)
    console.log(`(the HTTP clients, not counted above: ${ms(omniHttp.cpuMs.loadGenerator)} per job)`);
  for (const omni of [omniHttp, omniDirect]) {
    const slot = omni?.slot;
    if (!omni || !slot) continue;
    const waits = Object.entries(slot.store).map(
      ([method, wait]) => `${method} ${wait.calls.toFixed(1)}x ${ms(wait.ms)}`,
    );
    const rest = slot.ms - Object.values(slot.store).reduce((total, wait) => total + wait.ms, 0);
    console.log(
      `${omni.label}: a job is in the worker's processor ${ms(slot.ms)} (mean: ${waits.join(', ')}, ` +
        `the rest ${ms(rest)}) and holds a run slot ${ms(slot.runSlotMs)} of that (read, start, run; ` +
        `recording the result holds none), so ${slots} slots carry at most ` +
        `${whole(((slots ?? 0) * 1000) / slot.runSlotMs)} jobs/s`,
    );
  }
  const peers = systems.filter((s) => s.consumer === 'pg-boss' || s.consumer === 'graphile-worker');
  const fastest = peers.reduce<SystemFigures | undefined>(
    (best, s) => (best === undefined || s.jobsPerSecond > best.jobsPerSecond ? s : best),
    undefined,
  );
  for (const omni of [omniHttp, omniDirect]) {
    if (!omni || !fastest) continue;
    const ratio = omni.jobsPerSecond / fastest.jobsPerSecond;
    const cheapest = Math.min(...peers.map(systemCpuMs));
    const verdict = (met: boolean) => (met ? 'met' : 'not met');
    console.log(
      `${omni.label} / ${fastest.label} (the faster peer): ${ratio.toFixed(2)}x jobs/s` +
        (omni === omniHttp ? ` (goal ≥ ${goalRatio}x: ${verdict(ratio >= goalRatio)})` : '') +
        `; CPU per job ${ms(systemCpuMs(omni))} against ${peers.map((p) => `${p.label} ${ms(systemCpuMs(p))}`).join(', ')}` +
        (omni === omniHttp ? ` (goal: no more than either: ${verdict(systemCpuMs(omni) <= cheapest)})` : ''),
    );
  }
  const omni = omniHttp ?? omniDirect;
  if (omni && omni.cpuMs.postgres > 0) {
    const perCore = 1000 / omni.cpuMs.postgres;
    console.log(
      `one Postgres core at ${ms(omni.cpuMs.postgres)} of Postgres CPU per job (${omni.label}) carries ${whole(perCore)} jobs/s: ` +
        `${(perCore / options.sandboxJobsPerSecond).toFixed(0)} worker machines at ${options.sandboxJobsPerSecond} jobs/s each ` +
        `(assumed: a 2-core worker machine running warm sandboxes at concurrency 4, README's bench/sandbox.bench.ts figure; ` +
        `BENCH_SANDBOX_JOBS_PER_S to change it; a real job's output adds to its rows)`,
    );
  }
}
