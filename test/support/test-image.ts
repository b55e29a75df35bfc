import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The image the sandbox tests run; built locally because no registry is reachable. */
export const testImage = 'omni-busybox:latest';

const script = fileURLToPath(new URL('./build-test-image.sh', import.meta.url));

/** Builds the busybox test image unless it already exists, and returns its reference. */
export async function ensureTestImage(): Promise<string> {
  try {
    await execFileAsync('bash', [script], {
      env: { ...process.env, OMNI_TEST_IMAGE: testImage },
      timeout: 120_000,
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`building the test image ${testImage} failed${stderr ? `: ${stderr}` : ''}`, {
      cause: error,
    });
  }
  return testImage;
}
