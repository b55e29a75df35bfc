// omni's front half for the pipeline bench, two ways: the API as a server with 32 HTTP clients in a
// thread of their own (the load generator, whose CPU is counted apart), or the same submission code
// called by 32 producers in this thread without HTTP (what HTTP, routing and auth cost is the gap).
import { Worker as Thread } from 'node:worker_threads';
import { serve } from '@hono/node-server';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { createEventStore } from '../events/event-store.ts';
import type { Database } from '../events/tables.ts';
import { executeJobCommand, newJob } from '../jobs/job-stream.ts';
import { createApp } from '../services/api/app.ts';
import { prepareSubmission, submitBodySchema } from '../services/api/job-submission.ts';
import type { Principal } from '../services/api/token-verifier.ts';
import { mintToken } from '../services/dev-token.ts';
import { apiAppendGroupsInFlight } from '../services/roles.ts';
import { testPolicy } from '../test/support/test-policy.ts';
import { testSecret, testTokenVerifier } from '../test/support/test-stack.ts';
import type { HttpClientsReply, HttpClientsRequest, HttpClientsTask } from './http-clients.worker.ts';
import { fromProducers, type Producer, producerCount } from './pipeline-system.ts';

const spec = { image: testPolicy.allowedImages[0], command: ['true'] };

/** The API as `createApp` composes it, behind a port, fed by the HTTP clients thread. */
export async function startOmniHttpProducer(db: Kysely<Database>): Promise<Producer> {
  const app = createApp({
    store: createEventStore(db, { groupCommit: { maxInFlight: apiAppendGroupsInFlight } }),
    db,
    policy: testPolicy,
    verifyToken: testTokenVerifier,
    logger: pino({ level: 'silent' }),
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/jobs`;
  const headers = {
    authorization: `Bearer ${await mintToken({ secret: testSecret, subject: 'bench' })}`,
    'content-type': 'application/json',
  };
  const task: HttpClientsTask = { url, headers, body: JSON.stringify(spec), clients: producerCount };
  const clients = new Thread(new URL('./http-clients.worker.ts', import.meta.url), { workerData: task });
  const reply = () =>
    new Promise<HttpClientsReply>((resolve, reject) => {
      clients.once('message', resolve);
      clients.once('error', reject);
    });
  // Its start-up (a thread, its modules) happens before the round, not in it.
  await reply();
  return {
    async submit(count) {
      const done = reply();
      clients.postMessage({ count } satisfies HttpClientsRequest);
      const answer = await done;
      return { loadGeneratorCpuMs: 'cpuMs' in answer ? answer.cpuMs : 0 };
    },
    async stop() {
      await clients.terminate();
      // Its keep-alive sockets closed with the clients' thread, so close does not wait on them.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What `POST /v1/jobs` does after HTTP, routing, auth and body validation: prepare, decide, append. */
export function startOmniDirectProducer(db: Kysely<Database>): Producer {
  const store = createEventStore(db);
  const principal: Principal = { subject: 'bench', tenant: 'default', scopes: new Set(['jobs:submit']) };
  const bodySchema = submitBodySchema(testPolicy);
  const body = JSON.stringify(spec);
  return {
    async submit(count) {
      await fromProducers(count, async () => {
        // Parsed and checked per job, as the route does, so only HTTP, routing and auth are left out.
        const input = bodySchema.parse(JSON.parse(body));
        const { id, command } = await prepareSubmission({ policy: testPolicy }, principal, input, new Date());
        await executeJobCommand(
          store,
          id,
          command,
          { actor: principal.subject, tenant: principal.tenant },
          newJob,
        );
      });
      return { loadGeneratorCpuMs: 0 };
    },
    stop: async () => undefined,
  };
}
