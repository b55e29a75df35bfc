import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import { parseAllowedImage } from './image-allowlist.ts';
import { resolveAllowedImage } from './image-resolver.ts';
import { SandboxError } from './sandbox.ts';

/** An allowlisted image this engine cannot run as configured, and what the operator can do. */
export interface AllowedImageProblem {
  readonly image: string;
  readonly code: 'image-missing' | 'image-digest-mismatch';
  readonly advice: string;
}

/**
 * Checks every allowlisted image against this worker's engine once, at start, and warns for each
 * it lacks or holds under another digest: without it an operator learns of a missing image only
 * from jobs failing with image-missing. Never pulls (a pull, when allowed, happens on first use)
 * and never blocks the start: an unreachable engine is the outage gate's to report.
 */
export async function checkAllowedImages(
  docker: Docker,
  policy: SandboxPolicy,
  logger: Logger,
): Promise<readonly AllowedImageProblem[]> {
  const problems: AllowedImageProblem[] = [];
  for (const entry of policy.allowedImages) {
    const { reference } = parseAllowedImage(entry);
    try {
      await resolveAllowedImage(docker, { ...policy, pullMissing: false }, reference);
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      if (error.code === 'image-missing') {
        problems.push({
          image: reference,
          code: error.code,
          advice: policy.pullMissing
            ? `it is pulled when a job first names it (SANDBOX_PULL_MISSING is on); to avoid that wait, run: docker pull ${reference}`
            : `jobs naming it fail with image-missing until it is there: docker pull ${reference} (or docker build -t ${reference} …), or set SANDBOX_PULL_MISSING=true`,
        });
      } else if (error.code === 'image-digest-mismatch') {
        problems.push({
          image: reference,
          code: error.code,
          advice: `jobs naming it fail with image-digest-mismatch: pull the pinned digest or change the pin in SANDBOX_IMAGES (${error.message})`,
        });
      } else {
        // The engine is down or hangs: not the allowlist's problem, and reported elsewhere.
        return problems;
      }
    }
  }
  for (const problem of problems)
    logger.warn(
      { image: problem.image, code: problem.code },
      `allowed image ${problem.image} is not usable on this Docker engine: ${problem.advice}`,
    );
  return problems;
}
