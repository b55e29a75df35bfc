import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The image the sandbox tests run; built locally because no registry is reachable. */
export const testImage = 'omni-busybox:latest';

const script = fileURLToPath(new URL('./build-test-image.sh', import.meta.url));

/**
 * The same busybox image with a /tmp of mode 0755, as many real images have: Docker copies that
 * mode onto the tmpfs mounted there, so only root could write it unless the sandbox sees to it.
 */
export const closedTmpImage = 'omni-busybox-tmp0755:latest';

/** Builds the busybox test image unless it already exists, and returns its reference. */
export function ensureTestImage(): Promise<string> {
  return buildImage(testImage, {});
}

/** Builds closedTmpImage unless it already exists, and returns its reference. */
export function ensureClosedTmpImage(): Promise<string> {
  return buildImage(closedTmpImage, { OMNI_TEST_IMAGE_TMP_MODE: '0755' });
}

async function buildImage(image: string, env: Readonly<Record<string, string>>): Promise<string> {
  try {
    await execFileAsync('bash', [script], {
      env: { ...process.env, ...env, OMNI_TEST_IMAGE: image },
      timeout: 120_000,
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`building the test image ${image} failed${stderr ? `: ${stderr}` : ''}`, {
      cause: error,
    });
  }
  return image;
}
