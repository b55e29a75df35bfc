// pg-boss in the pipeline bench: 32 producers `send`, workers with `localConcurrency` slots run a no-op
// handler, and a job is done when pg-boss has recorded it completed. With its defaults a worker that
// took one job waits out the 2 s polling interval before the next (8 slots: a few jobs/s), so the
// queue turns on LISTEN/NOTIFY (every send wakes the workers) and polling runs at its 0.5 s floor.
// Measured and left out: burst fetching on the cached ready count (`burstWhenReadyExceeds`, with the
// monitor every second) was slower and dearer here, and 32 slots as one worker fetching batches of 32
// would make a batch wait for its slowest job, which is not what 32 slots mean for the others.
import { PgBoss } from 'pg-boss';
import { fromProducers, type Producer, type StartConsumer } from './pipeline-system.ts';

/** Pool sizes: pg-boss's default of 10, more when there are more slots than that. */
const poolFor = (slots: number) => Math.max(10, slots + 2);

/** Installs pg-boss's schema and the bench's queue (with NOTIFY on) in a fresh database. */
export async function installPgBoss(databaseUrl: string, queue: string): Promise<void> {
  const boss = new PgBoss({ connectionString: databaseUrl, supervise: false, schedule: false });
  await boss.start();
  await boss.createQueue(queue, { notify: true });
  await boss.stop({ graceful: false });
}

export async function startPgBossProducer(databaseUrl: string, queue: string): Promise<Producer> {
  const boss = new PgBoss({
    connectionString: databaseUrl,
    supervise: false,
    schedule: false,
    migrate: false,
  });
  boss.on('error', (error) => console.error('pg-boss producer:', error));
  await boss.start();
  return {
    async submit(count) {
      await fromProducers(count, (index) => boss.send(queue, { index }));
      return { loadGeneratorCpuMs: 0 };
    },
    stop: () => boss.stop({ graceful: false }),
  };
}

export const startConsumer: StartConsumer = async (task, onCompleted) => {
  const queue = task.prefix;
  const boss = new PgBoss({
    connectionString: task.databaseUrl,
    max: poolFor(task.slots),
    schedule: false,
    migrate: false,
    useListenNotify: true,
  });
  boss.on('error', (error) => console.error('pg-boss consumer:', error));
  await boss.start();
  const completedSoFar = async () => {
    const { rows } = await boss
      .getDb()
      .executeSql(`select count(*)::int as n from pgboss.job where name = $1 and state = 'completed'`, [
        queue,
      ]);
    return (rows[0] as { n: number } | undefined)?.n ?? 0;
  };
  // Completed jobs stay in the table: the earlier rounds' are not this one's.
  const before = await completedSoFar();
  await boss.work(
    queue,
    {
      localConcurrency: task.slots,
      batchSize: 1,
      pollingIntervalSeconds: 0.5,
      notifyPollingIntervalSeconds: 0.5,
    },
    async () => {
      onCompleted();
    },
  );
  return {
    // The handler counts a job before pg-boss's completion of it commits: wait for those to land.
    async settled(total) {
      while ((await completedSoFar()) < before + total) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    stop: () => boss.stop({ graceful: true, timeout: 5000 }),
  };
};
