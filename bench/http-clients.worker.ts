// A worker thread of HTTP clients for the pipeline bench: they submit off the server's event loop,
// as clients in other processes would, so the figure is the product's and not the load generator's.
import { parentPort, workerData } from 'node:worker_threads';

export interface HttpClientsTask {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly count: number;
  readonly clients: number;
}

const task = workerData as HttpClientsTask;
let next = 0;
await Promise.all(
  Array.from({ length: task.clients }, async () => {
    while (next < task.count) {
      next += 1;
      const response = await fetch(task.url, { method: 'POST', headers: task.headers, body: task.body });
      if (response.status !== 202) throw new Error(`submit answered ${response.status}`);
      await response.arrayBuffer();
    }
  }),
);
parentPort?.postMessage('done');
