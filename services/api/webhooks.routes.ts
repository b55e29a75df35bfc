import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import {
  createdWebhookSchema,
  createWebhookBodySchema,
  webhookViewSchema,
} from '../../schemas/webhook-api.schema.ts';
import { isPrivateWebhookUrl } from '../../schemas/webhook-url.schema.ts';
import { maxWebhooksPerTenant, type WebhookSubscriptions } from '../../webhooks/webhook-subscriptions.ts';
import { auditMetadata } from './audit-metadata.ts';
import type { AuthVariables } from './bearer-auth.middleware.ts';
import { exampleWebhook } from './openapi-examples.ts';
import { jsonBody, jsonResponse, openApiRoutes, problems, scoped } from './openapi-route.ts';
import { invalidRequest, ProblemError } from './problem.ts';

/** What the API needs for webhooks: subscriptions, the operator's address policy, callback secrets. */
export interface WebhookApiDeps {
  readonly subscriptions: WebhookSubscriptions;
  /** WEBHOOK_ALLOW_PRIVATE: loopback and private literal hosts are accepted. */
  readonly allowPrivate: boolean;
  /** A job's callback secret under the active key, returned once when the job is submitted. */
  readonly callbackSecret: (jobId: string) => string;
}

export interface WebhooksRoutesDeps {
  /** Absent when no SECRETS_KEYS are configured: signing secrets could not be kept, so 503. */
  readonly webhooks?: WebhookApiDeps;
}

type Env = { Variables: AuthVariables & { requestId: string } };

const idParam = z.object({ id: z.string().meta({ example: exampleWebhook.id }) });

const createWebhook = createRoute({
  method: 'post',
  path: '/',
  tags: ['webhooks'],
  summary:
    "Subscribe a URL to the tenant's jobs' ends (signed POSTs, Standard Webhooks); the signing secret is returned this once",
  ...scoped('webhooks:write'),
  request: {
    body: jsonBody(createWebhookBodySchema, {
      url: 'https://hooks.example.com/omni',
      events: ['JobSucceeded', 'JobFailed'],
    }),
  },
  responses: {
    201: jsonResponse('Subscribed', createdWebhookSchema, {
      ...exampleWebhook,
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    }),
    ...problems(400, 401, 403, 409, 415, 429, 503),
  },
});

const listWebhooks = createRoute({
  method: 'get',
  path: '/',
  tags: ['webhooks'],
  summary: "The tenant's webhook subscriptions (never their secrets)",
  ...scoped('webhooks:read'),
  responses: {
    200: jsonResponse('The subscriptions', z.object({ webhooks: z.array(webhookViewSchema) }), {
      webhooks: [exampleWebhook],
    }),
    ...problems(401, 403, 429, 503),
  },
});

const getWebhook = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['webhooks'],
  summary: 'One webhook subscription',
  ...scoped('webhooks:read'),
  request: { params: idParam },
  responses: {
    200: jsonResponse('The subscription', webhookViewSchema, exampleWebhook),
    ...problems(401, 403, 404, 429, 503),
  },
});

const deleteWebhook = createRoute({
  method: 'delete',
  path: '/{id}',
  tags: ['webhooks'],
  summary: 'End a subscription: no delivery is owed to it from now on',
  ...scoped('webhooks:write'),
  request: { params: idParam },
  responses: { 204: { description: 'Ended' }, ...problems(401, 403, 404, 429, 503) },
});

const notFound = () => new ProblemError({ status: 404, code: 'webhook-not-found', title: 'No such webhook' });

/** Webhooks need SECRETS_KEYS (secrets are sealed with them); without, every webhook route says so. */
export function webhooksConfigured(deps: WebhooksRoutesDeps): WebhookApiDeps {
  if (!deps.webhooks) {
    throw new ProblemError({
      status: 503,
      code: 'webhooks-disabled',
      title: 'Webhooks are not configured',
      detail: 'the operator has set no SECRETS_KEYS to keep signing secrets with',
    });
  }
  return deps.webhooks;
}

/** A private literal host is refused unless the operator allows private targets (WEBHOOK_ALLOW_PRIVATE). */
export function refusePrivateTarget(url: string, allowPrivate: boolean, pointer: string): void {
  if (!allowPrivate && isPrivateWebhookUrl(url)) {
    throw invalidRequest('the URL points at a private address', [
      { pointer, detail: 'loopback and private addresses are refused here (WEBHOOK_ALLOW_PRIVATE is off)' },
    ]);
  }
}

/** /v1/webhooks: a tenant's subscriptions to its jobs' ends. The secret leaves once, at creation. */
export function createWebhooksRoutes(deps: WebhooksRoutesDeps) {
  return openApiRoutes<Env>()
    .openapi(createWebhook, async (c) => {
      const webhooks = webhooksConfigured(deps);
      const principal = c.get('principal');
      const body = c.req.valid('json');
      refusePrivateTarget(body.url, webhooks.allowPrivate, '/url');
      const created = await webhooks.subscriptions.create(
        principal.tenant,
        body,
        auditMetadata(c, principal),
      );
      if (!created) {
        throw new ProblemError({
          status: 409,
          code: 'too-many-webhooks',
          title: 'The tenant has as many webhooks as it may',
          detail: `at most ${maxWebhooksPerTenant}; delete one first`,
        });
      }
      c.header('location', `/v1/webhooks/${created.subscription.id}`);
      return c.json({ ...created.subscription, secret: created.secret }, 201);
    })
    .openapi(listWebhooks, async (c) => {
      const webhooks = webhooksConfigured(deps);
      return c.json({ webhooks: await webhooks.subscriptions.list(c.get('principal').tenant) }, 200);
    })
    .openapi(getWebhook, async (c) => {
      const webhooks = webhooksConfigured(deps);
      const { id } = c.req.valid('param');
      if (!z.uuid().safeParse(id).success) throw notFound();
      const found = await webhooks.subscriptions.find(c.get('principal').tenant, id);
      if (!found) throw notFound();
      return c.json(found, 200);
    })
    .openapi(deleteWebhook, async (c) => {
      const webhooks = webhooksConfigured(deps);
      const principal = c.get('principal');
      const { id } = c.req.valid('param');
      if (!z.uuid().safeParse(id).success) throw notFound();
      if (!(await webhooks.subscriptions.remove(principal.tenant, id, auditMetadata(c, principal))))
        throw notFound();
      return c.body(null, 204);
    });
}
