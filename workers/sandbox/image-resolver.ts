import type Docker from 'dockerode';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import {
  dockerStatusCode,
  engineAddress,
  isDaemonUnreachable,
  toSandboxError,
  withEngineDeadline,
} from './docker-errors.ts';
import { findAllowedImage, matchesDigest, repositoryOf } from './image-allowlist.ts';
import { SandboxError } from './sandbox.ts';

interface InspectedImage {
  readonly Id: string;
  readonly RepoDigests?: string[] | null;
}

/**
 * Resolves a job's image to the id that will run: allowlist check, one inspect, the pinned digest
 * check, and a pull only when the operator turned pulls on. A missing image is never replaced by
 * another one: it is pulled as named (or by its pinned digest) or the job is refused.
 *
 * Throws SandboxError: image-not-allowed, image-missing, image-digest-mismatch, daemon-unavailable
 * (also when an inspect takes longer than `timeoutMs`: the engine hangs).
 */
export async function resolveAllowedImage(
  docker: Docker,
  policy: SandboxPolicy,
  image: string,
  timeoutMs = 15_000,
): Promise<{ readonly imageId: string }> {
  const allowed = findAllowedImage(policy.allowedImages, image);
  if (!allowed) throw new SandboxError('image-not-allowed', `image ${image} is not on the sandbox allowlist`);
  const inspectImage = (reference: string) => inspectImageWithin(docker, reference, timeoutMs);
  let info = await inspectImage(allowed.reference);
  if (!info) {
    if (policy.pullMissing !== true) {
      throw new SandboxError(
        'image-missing',
        `image ${allowed.reference} is not present on this Docker engine and pulls are off (SANDBOX_PULL_MISSING); an operator must provide it`,
      );
    }
    // A pinned image is pulled by its digest, so the registry cannot hand over anything else.
    const pullReference = allowed.digest
      ? `${repositoryOf(allowed.reference)}@${allowed.digest}`
      : allowed.reference;
    await pullImage(docker, pullReference, policy);
    info = (await inspectImage(pullReference)) ?? (await inspectImage(allowed.reference));
    if (!info)
      throw new SandboxError('image-missing', `image ${pullReference} is still missing after a pull`);
  }
  if (allowed.digest !== undefined && !matchesDigest(info, allowed.digest)) {
    throw new SandboxError(
      'image-digest-mismatch',
      `image ${allowed.reference} is ${info.Id}, not the pinned ${allowed.digest}; refusing to run it`,
    );
  }
  return { imageId: info.Id };
}

async function inspectImageWithin(
  docker: Docker,
  reference: string,
  timeoutMs: number,
): Promise<InspectedImage | undefined> {
  const engine = engineAddress(docker);
  const doing = `inspecting image ${reference}`;
  try {
    return (await withEngineDeadline(engine, doing, timeoutMs, () =>
      // dockerode's image inspect takes no abort signal: the deadline alone bounds it.
      docker.getImage(reference).inspect(),
    )) as InspectedImage;
  } catch (error) {
    if (dockerStatusCode(error) === 404) return undefined;
    throw toSandboxError(error, doing, engine);
  }
}

async function pullImage(docker: Docker, reference: string, policy: SandboxPolicy): Promise<void> {
  try {
    const stream = await docker.pull(
      reference,
      policy.registryAuth ? { authconfig: policy.registryAuth } : {},
    );
    // The engine reports a failed pull inside the progress stream, not as an HTTP status.
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error: Error | null, output: ReadonlyArray<{ error?: string }>) => {
          const failed = error ?? output.find((entry) => entry.error !== undefined)?.error;
          if (failed) reject(failed instanceof Error ? failed : new Error(failed));
          else resolve();
        },
      );
    });
  } catch (error) {
    if (isDaemonUnreachable(error))
      throw toSandboxError(error, `pulling image ${reference}`, engineAddress(docker));
    const detail = error instanceof Error ? error.message : String(error);
    throw new SandboxError(
      'image-missing',
      `image ${reference} is missing and pulling it failed: ${detail}`,
      { cause: error },
    );
  }
}
