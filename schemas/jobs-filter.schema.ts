import { z } from 'zod';
import { queryInstantSchema } from './input-bounds.ts';
import { jobLabelKeySchema, jobLabelValueSchema, maxJobLabels } from './job-spec.schema.ts';
import { jobStatusSchema } from './job-status.schema.ts';

/**
 * Which jobs of the read model an operation means: the list shows them, the counts count them per
 * status, the bulk actions act on them. Written once so that what the list shows is exactly what a
 * bulk action touches and what the counts add up. Two spellings of the same filter: a query string
 * (`?status=queued,running&label=team=a&label=env=prod`) and a JSON body (arrays).
 */

/** `key=value`: the key a label key, the value any label value. */
const labelFilterSchema = z.string().transform((filter, context) => {
  const separator = filter.indexOf('=');
  const parsed =
    separator < 1
      ? undefined
      : z
          .tuple([jobLabelKeySchema, jobLabelValueSchema])
          .safeParse([filter.slice(0, separator), filter.slice(separator + 1)]);
  if (!parsed?.success) {
    context.addIssue({ code: 'custom', message: 'must be key=value with a label key and a printable value' });
    return z.NEVER;
  }
  return { [parsed.data[0]]: parsed.data[1] } as Readonly<Record<string, string>>;
});

const labelFiltersSchema = z.array(labelFilterSchema).min(1).max(maxJobLabels);

/** The fields both spellings share, bounded as every client value is. */
const commonFields = {
  image: z.string().min(1).max(255).optional(),
  submittedBy: z.string().min(1).max(255).optional(),
  // Within the years 0001..9999 and offsets of ±14:00: Postgres refuses year 0 and wider offsets.
  submittedAfter: queryInstantSchema.optional(),
  submittedBefore: queryInstantSchema.optional(),
  // Admins only: another tenant's jobs (without it, an admin means every tenant). Ignored for others.
  tenant: z.string().min(1).max(255).optional(),
  // Words to find in the command or the labels (case-insensitive, as typed).
  q: z
    .string()
    .min(1)
    .max(200)
    .refine((value) => value.isWellFormed() && !value.includes('\u0000'), 'must be text')
    .optional(),
};

/** The filter in a query string, without the status (the counts give one figure per status). */
export const jobsFilterQueryFieldsWithoutStatus = {
  ...commonFields,
  // Repeatable: ?label=team=data&label=env=prod means jobs carrying every one of them.
  label: z
    .union([z.string(), z.array(z.string())])
    .transform((value) => (Array.isArray(value) ? value : [value]))
    .pipe(labelFiltersSchema)
    .optional(),
};

/** The filter in a query string: one status or several, comma separated. */
export const jobsFilterQueryFields = {
  ...jobsFilterQueryFieldsWithoutStatus,
  status: z
    .string()
    .transform((value) => value.split(',').map((item) => item.trim()))
    .pipe(z.array(jobStatusSchema).min(1))
    .optional(),
};

/** The filter as a JSON body (the bulk actions'): the same fields, lists as arrays. */
export const jobsFilterBodySchema = z
  .object({
    ...commonFields,
    status: z.array(jobStatusSchema).min(1).optional(),
    label: labelFiltersSchema.optional(),
  })
  .strict();

/** What every spelling parses to. */
export type JobsFilter = z.output<typeof jobsFilterBodySchema>;
