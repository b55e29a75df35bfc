import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from 'pino';
import type { EventStore } from '../../events/event-store.ts';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import { type AuthVariables, type BearerAuthOptions, bearerAuth } from './bearer-auth.middleware.ts';
import { createErrorHandler } from './error-handler.ts';
import { createJobsRoutes } from './jobs.routes.ts';
import { ProblemError, problemResponse } from './problem.ts';

export interface AppDeps {
  readonly store: EventStore;
  readonly policy: SandboxPolicy;
  readonly auth: BearerAuthOptions;
  readonly logger: Logger;
  /** Largest accepted request body. */
  readonly maxBodyBytes?: number;
}

/** The HTTP API as a Hono app; tested with `app.request()`, served by `@hono/node-server`. */
export function createApp(deps: AppDeps) {
  const app = new Hono<{ Variables: AuthVariables & { requestId: string } }>();
  app.onError(createErrorHandler(deps.logger));
  app.notFound((c) => problemResponse(c, new ProblemError({ status: 404, code: 'route-not-found', title: 'No such route' })));
  app.use(requestId());
  app.use(secureHeaders());
  app.use(
    bodyLimit({
      maxSize: deps.maxBodyBytes ?? 2 * 1024 * 1024,
      onError: () => {
        throw new ProblemError({ status: 413, code: 'payload-too-large', title: 'The request body is too large' });
      },
    }),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.use('/v1/*', bearerAuth(deps.auth));
  app.route('/v1/jobs', createJobsRoutes(deps));
  return app;
}

export type App = ReturnType<typeof createApp>;
