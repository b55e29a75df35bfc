import type { Dependency } from '../preflight.ts';

/**
 * The roles `omni serve ROLE` runs (`all`: every one in one process, what `npm start` runs). The
 * one list of them: the CLI's help, its role shortcuts (`omni api`, as compose runs them) and
 * serve.command.ts all read it. Kept apart from serve.command.ts so `omni --help` loads none of
 * the product.
 */
export const serveRoles = ['all', 'api', 'dispatcher', 'worker', 'projector', 'webhooks'] as const;
export type ServeRole = (typeof serveRoles)[number];

/** The servers each role needs before it can start. */
export const needs: Record<ServeRole, readonly Dependency[]> = {
  all: ['postgres', 'redis', 'docker'],
  api: ['postgres', 'redis'],
  dispatcher: ['postgres', 'redis'],
  worker: ['postgres', 'redis', 'docker'],
  projector: ['postgres'],
  webhooks: ['postgres'],
};

export const isServeRole = (name: string): name is ServeRole =>
  (serveRoles as readonly string[]).includes(name);
