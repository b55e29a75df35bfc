import type { SandboxPolicy } from '../../schemas/config.schema.ts';
import { testImage } from './test-image.ts';

const mebibyte = 1024 * 1024;

/** A small sandbox policy so hostile jobs hit their limits quickly. */
export const testPolicy: SandboxPolicy = {
  allowedImages: [testImage],
  user: '65534:65534',
  defaults: { memoryBytes: 64 * mebibyte, cpus: 1, pids: 64, timeoutMs: 10_000 },
  maxima: { memoryBytes: 256 * mebibyte, cpus: 2, pids: 128, timeoutMs: 30_000 },
  outputLimitBytes: 64 * 1024,
  tmpfsBytes: 16 * mebibyte,
};
