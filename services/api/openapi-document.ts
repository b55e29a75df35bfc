import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Env } from 'hono';

/** The resources the reference groups its operations by, in the order it shows them. */
const tags = [
  { name: 'jobs', description: 'Submit jobs, follow them, read their history and output, cancel and retry' },
  { name: 'events', description: 'The global log, for operators' },
  { name: 'files', description: 'Uploads jobs take as inputs, and the artifacts they leave' },
  { name: 'schedules', description: 'Recurring jobs: cron or an interval' },
  { name: 'webhooks', description: "Signed POSTs when a tenant's jobs end" },
  { name: 'secrets', description: 'Values jobs reference by name, encrypted at rest' },
  { name: 'admin', description: 'Verification of the whole log, queue health' },
  { name: 'me', description: 'Who the token says you are' },
  { name: 'service', description: 'Probes and metrics' },
];

/**
 * The OpenAPI 3.1 document of every route `app` defined with createRoute: their schemas, scopes,
 * examples and problems, as the routes validate and answer them.
 */
export function buildOpenApiDocument<E extends Env>(app: OpenAPIHono<E>, version: string) {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'omni',
      version,
      description:
        'Run untrusted jobs in hardened sandboxes, with a complete, verifiable history of every job as immutable events.',
    },
    servers: [{ url: '/' }],
    tags,
  });
  // A name per operation (getV1JobsId), so generated clients have one for each.
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(
      operations as Record<string, { operationId?: string }>,
    )) {
      operation.operationId ??= `${method}${path
        .replace(/[{}]/g, '')
        .replace(/[/-](\w)/g, (_, letter: string) => letter.toUpperCase())
        .replace(/\W/g, '')}`;
    }
  }
  return document;
}
