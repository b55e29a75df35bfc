// A worker thread of HTTP clients for the pipeline bench: they submit off the server's event loop,
// as clients in other processes would, so the figure is the product's and not the load generator's.
// node:http with keep-alive rather than fetch: measured here, fetch spent about three times the CPU
// per request (0.4 ms against 0.13 ms for client and a plain server together), CPU the product's
// server would otherwise get on a two-core machine.
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { threadCpuMs } from './process-cpu.ts';

export interface HttpClientsTask {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly clients: number;
}

/**
 * The thread waits for a number of requests to send, sends them and answers with the CPU it spent;
 * started ahead, so its start-up is not counted in a round.
 */
export type HttpClientsRequest = { readonly count: number };
export type HttpClientsReply = { readonly ready: true } | { readonly cpuMs: number };

const task = workerData as HttpClientsTask;
const target = new URL(task.url);
const agent = new Agent({ keepAlive: true, maxSockets: task.clients });
const headers = { ...task.headers, 'content-length': String(Buffer.byteLength(task.body)) };

/** One POST; resolves once the whole answer arrived, refuses anything but 202. */
const submit = () =>
  new Promise<void>((resolve, reject) => {
    const outgoing = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode === 202
            ? resolve()
            : reject(new Error(`submit answered ${response.statusCode}`)),
        );
      },
    );
    outgoing.once('error', reject);
    outgoing.end(task.body);
  });

parentPort?.on('message', async ({ count }: HttpClientsRequest) => {
  const cpuBefore = threadCpuMs();
  let next = 0;
  await Promise.all(
    Array.from({ length: task.clients }, async () => {
      while (next < count) {
        next += 1;
        await submit();
      }
    }),
  );
  // The load generator's own CPU, so the bench can leave it out of the product's.
  parentPort?.postMessage({ cpuMs: threadCpuMs() - cpuBefore } satisfies HttpClientsReply);
});
parentPort?.postMessage({ ready: true } satisfies HttpClientsReply);
