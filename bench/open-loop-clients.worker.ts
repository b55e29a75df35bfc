// A worker thread that offers POSTs at a fixed rate (open loop), for the submit-latency bench: each
// request's latency runs from when it was due, not from when a client got round to sending it, so
// a server that falls behind shows it (no coordinated omission). Off the server's event loop, as
// clients in other processes would be.
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface OpenLoopTask {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly ratePerSecond: number;
  readonly seconds: number;
}

export interface OpenLoopResult {
  /** Milliseconds from due to answered, one per request, in the order they were due. */
  readonly latenciesMs: readonly number[];
  readonly statuses: Readonly<Record<string, number>>;
}

const task = workerData as OpenLoopTask;
const target = new URL(task.url);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const headers = { ...task.headers, 'content-length': String(Buffer.byteLength(task.body)) };
const statuses: Record<string, number> = {};

const post = (dueAt: number) =>
  new Promise<number>((resolve) => {
    const outgoing = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
      (response) => {
        response.resume();
        response.once('end', () => {
          const status = String(response.statusCode);
          statuses[status] = (statuses[status] ?? 0) + 1;
          resolve(performance.now() - dueAt);
        });
      },
    );
    outgoing.once('error', () => {
      statuses.error = (statuses.error ?? 0) + 1;
      resolve(performance.now() - dueAt);
    });
    outgoing.end(task.body);
  });

const total = Math.round(task.ratePerSecond * task.seconds);
const intervalMs = 1000 / task.ratePerSecond;
const started = performance.now();
const pending: Promise<number>[] = [];
for (let index = 0; index < total; index += 1) {
  const dueAt = started + index * intervalMs;
  // Never sent before it is due (a timer may fire early against performance.now(), and one sent
  // early reads a latency below zero); at most a timer tick late, which counts as latency.
  for (let wait = dueAt - performance.now(); wait > 0; wait = dueAt - performance.now())
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, wait)));
  pending.push(post(dueAt));
}
const latenciesMs = await Promise.all(pending);
agent.destroy();
parentPort?.postMessage({ latenciesMs, statuses } satisfies OpenLoopResult);
