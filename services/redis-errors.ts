/**
 * Whether an ioredis error means Redis could not be reached (its commands fail once the retries a
 * client allows are spent, or on a closed connection), as opposed to a command Redis refused.
 */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  if (error.message === 'Connection is closed.') return true;
  return /^Stream isn't writeable/.test(error.message);
}
