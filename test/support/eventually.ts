/**
 * Retries `read` until `done` accepts its result. Global reads stop below the oldest transaction
 * running anywhere on the Postgres server (other test files included), so an event just appended
 * becomes visible to them a moment later, not at once.
 */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
