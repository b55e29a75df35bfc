// CPU time of the processes a benchmark drives, read from /proc (Linux): the bench prints CPU per job
// next to jobs/s, which says where the cost is even when another load shares the machine.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';

const ticksPerSecond = 100;

/** User plus system CPU of one process in milliseconds; 0 when it is gone or /proc is unreadable. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(fields[11]);
    const system = Number(fields[12]);
    return ((user + system) * 1000) / ticksPerSecond;
  } catch {
    return 0;
  }
}

/** CPU of each process at one moment: pid -> milliseconds. */
export type CpuSnapshot = ReadonlyMap<number, number>;

/**
 * The Postgres processes serving `db`'s database, plus the server's WAL writer, checkpointer and
 * background writer, each with its CPU so far. Pool connections are long-lived, so `cpuBetween` of
 * two snapshots is what the work between them cost Postgres.
 */
// biome-ignore lint/suspicious/noExplicitAny: any schema; only pg_stat_activity is read
export async function postgresCpu(db: Kysely<any>): Promise<CpuSnapshot> {
  const { rows } = await sql<{ pid: number }>`
    select pid from pg_stat_activity
    where datname = current_database() or backend_type in ('walwriter', 'checkpointer', 'background writer')
  `.execute(db);
  return new Map(rows.map((row) => [row.pid, processCpuMs(row.pid)]));
}

/** Milliseconds of CPU the processes of `after` used since `before` (a process new since then: all of it). */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

export async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('server');
  const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
  return Number.isFinite(pid) ? processCpuMs(pid) : 0;
}

/** This process's CPU (every thread) in milliseconds. */
export function nodeCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** The calling thread's CPU in milliseconds (each role of the bench runs in a thread of its own). */
export function threadCpuMs(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}
