import { z } from 'zod';

/** SHA-256 of a file's bytes, lower-case hex: what the log keeps after the bytes are gone. */
export const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 in lower-case hex');

/** Events of a file's own stream (`file-<id>`): its upload and its deletion. */
export const fileEventSchemas = {
  FileUploaded: {
    version: 1,
    data: z.object({
      fileId: z.uuid(),
      tenant: z.string(),
      name: z.string(),
      contentType: z.string(),
      size: z.number().int().nonnegative(),
      sha256: sha256HexSchema,
    }),
  },
  // The bytes may be gone (when nothing else names them); the upload's record stays.
  FileDeleted: {
    version: 1,
    data: z.object({ fileId: z.uuid(), tenant: z.string(), sha256: sha256HexSchema }),
  },
} as const;

export const fileStreamId = (fileId: string) => `file-${fileId}`;
