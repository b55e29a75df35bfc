/**
 * The CLI's exit codes, stated once: `omni --help` prints them and scripts branch on them. With
 * `submit --wait` and `jobs watch` the code is the job's own (0–255) once it ran to an exit.
 */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  refused: 3,
  unreachable: 4,
} as const;

export const exitCodesHelp = `Exit codes:
  0  done (with --wait / jobs watch: the job succeeded)
  N  with --wait / jobs watch: the job's own exit code; 1 when it ended without one (timeout, cancel, sandbox)
  1  failed (a check that does not hold, an API or server error)
  2  usage: a wrong command, option or value (also the API's 400: the request as given is invalid)
  3  not found or refused (404, 401, 403, 409: no such job, file or database; not allowed)
  4  cannot reach the API or Postgres (connection refused, unknown host, timeout)`;
