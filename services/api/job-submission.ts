import { randomUUID } from 'node:crypto';
import type { FileCatalog } from '../../files/file-catalog.ts';
import type { JobCommand } from '../../jobs/job.decider.ts';
import { resolveJobSpec } from '../../jobs/resolve-job-spec.ts';
import { defaultFileLimits, type SandboxPolicy } from '../../schemas/config.schema.ts';
import { type ResolvedInput, type SubmitJobInput, submitJobSchema } from '../../schemas/job-spec.schema.ts';
import type { SecretVault } from '../../secrets/secret-vault.ts';
import { findAllowedImage } from '../../workers/sandbox/image-allowlist.ts';
import { invalidRequest, ProblemError } from './problem.ts';
import type { Principal } from './token-verifier.ts';
import { refusePrivateTarget, type WebhookApiDeps, webhooksConfigured } from './webhooks.routes.ts';

/** What a submission needs besides the job itself; `POST /v1/jobs` and its batch share them. */
export interface SubmissionDeps {
  readonly policy: SandboxPolicy;
  /** Absent when no encryption key is configured. */
  readonly secrets?: SecretVault;
  /** Uploaded files a job may name as inputs; absent: jobs with inputs answer 503. */
  readonly files?: FileCatalog;
  /** Callback secrets and the address policy; absent: jobs with a callback answer 503. */
  readonly webhooks?: WebhookApiDeps;
}

/** A job spec as a client sends it, held to the operator's image allowlist. */
export function submitBodySchema(policy: SandboxPolicy) {
  return submitJobSchema.superRefine((spec, ctx) => {
    if (!findAllowedImage(policy.allowedImages, spec.image)) {
      ctx.addIssue({
        code: 'custom',
        path: ['image'],
        message: `image is not on the allowlist (${policy.allowedImages.join(', ')})`,
      });
    }
  });
}

/** A job ready to append: its new id, the SubmitJob command, and its callback's signing secret. */
export interface PreparedSubmission {
  readonly id: string;
  readonly command: Extract<JobCommand, { type: 'SubmitJob' }>;
  readonly callbackSecret?: string;
}

/**
 * Looks up the tenant's files a job names as inputs; the hash and size go on the job's events, so
 * the run uses exactly these bytes and the history names them even after the file is deleted.
 */
async function resolveInputs(
  input: SubmitJobInput,
  tenant: string,
  files: FileCatalog | undefined,
  policy: SandboxPolicy,
): Promise<ResolvedInput[]> {
  const wanted = input.inputs ?? [];
  if (wanted.length === 0) return [];
  if (!files) {
    throw new ProblemError({ status: 503, code: 'files-disabled', title: 'File storage is not configured' });
  }
  const found = await Promise.all(wanted.map((entry) => files.find(tenant, entry.file)));
  const missing = wanted.flatMap((entry, index) =>
    found[index] ? [] : [{ pointer: `/inputs/${index}/file`, detail: `file ${entry.file} does not exist` }],
  );
  if (missing.length > 0) throw invalidRequest('the job names input files that do not exist', missing);
  const resolved = wanted.map((entry, index) => {
    const file = found[index];
    if (!file) throw new Error('unreachable: every input was found');
    return { file: file.id, path: entry.path, sha256: file.sha256, size: file.size };
  });
  const total = resolved.reduce((sum, entry) => sum + entry.size, 0);
  const cap = Math.min((policy.files ?? defaultFileLimits).maxInputBytes, policy.tmpfsBytes);
  if (total > cap) {
    throw invalidRequest(`the input files add up to ${total} bytes; at most ${cap} fit`, [
      { pointer: '/inputs', detail: `at most ${cap} bytes of input files in all` },
    ]);
  }
  return resolved;
}

/**
 * Everything a submitted spec is checked against beyond its schema (the callback's address, the
 * secrets and files it names, all in the caller's tenant), then resolved against the operator's
 * defaults and maxima into the SubmitJob command. Refusals are ProblemErrors whose pointers are
 * relative to the spec.
 */
export async function prepareSubmission(
  deps: SubmissionDeps,
  principal: Principal,
  input: SubmitJobInput,
  now: Date,
): Promise<PreparedSubmission> {
  const webhooks = input.callback ? webhooksConfigured(deps) : undefined;
  if (input.callback && webhooks)
    refusePrivateTarget(input.callback.url, webhooks.allowPrivate, '/callback/url');
  const secretNames = Object.values(input.secrets ?? {});
  if (secretNames.length > 0 && !deps.secrets) {
    throw new ProblemError({
      status: 503,
      code: 'secrets-disabled',
      title: 'Secrets are not configured',
      detail: 'the operator has set no SECRETS_KEYS',
    });
  }
  const missing = deps.secrets ? await deps.secrets.missing(principal.tenant, secretNames) : [];
  if (missing.length > 0) {
    throw invalidRequest(
      'the job names secrets that do not exist',
      Object.entries(input.secrets ?? {})
        .filter(([, name]) => missing.includes(name))
        .map(([variable, name]) => ({
          pointer: `/secrets/${variable}`,
          detail: `secret ${name} does not exist`,
        })),
    );
  }
  const inputs = await resolveInputs(input, principal.tenant, deps.files, deps.policy);
  const id = randomUUID();
  const { runAt, delayMs, expiresAt, ...specInput } = input;
  return {
    id,
    command: {
      type: 'SubmitJob',
      spec: resolveJobSpec(specInput, deps.policy, inputs),
      now,
      ...(runAt === undefined ? {} : { runAt: new Date(runAt) }),
      ...(delayMs === undefined ? {} : { runAt: new Date(now.getTime() + delayMs) }),
      ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt) }),
    },
    // Derived from the id, so nothing is stored for it; it leaves once, in the answer.
    ...(webhooks ? { callbackSecret: webhooks.callbackSecret(id) } : {}),
  };
}
