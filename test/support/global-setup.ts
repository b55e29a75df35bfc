import { ensureTestImage } from './test-image.ts';

/** Runs once before every test file: the sandbox image must exist (no registry is reachable). */
export default async function setup(): Promise<void> {
  await ensureTestImage();
}
