/** A request waiting for its group, with the promise it answers. */
export interface Waiting<Request, Result> {
  readonly request: Request;
  readonly resolve: (result: Result) => void;
  readonly reject: (error: unknown) => void;
}

export interface CoalescerOptions {
  /** At most this many requests go in one group. */
  readonly maxGroupSize: number;
  /** At most this many groups are in flight at once; requests arriving meanwhile form the next. */
  readonly maxInFlight: number;
}

/**
 * Turns single requests made concurrently into groups, for work whose fixed cost per round trip
 * (a statement, a transaction, a commit) dwarfs its cost per item. A request is sent at once while
 * fewer than `maxInFlight` groups are in flight, so a lone caller waits for nothing; under load the
 * requests that arrive while the groups are busy go together in the next one. `sendGroup` must
 * settle every request of the group it is given.
 */
export function createCoalescer<Request, Result>(
  sendGroup: (group: readonly Waiting<Request, Result>[]) => Promise<void>,
  options: CoalescerOptions,
): (request: Request) => Promise<Result> {
  const queue: Waiting<Request, Result>[] = [];
  let inFlight = 0;
  let drainScheduled = false;

  const drain = () => {
    drainScheduled = false;
    while (inFlight < options.maxInFlight && queue.length > 0) {
      const group = queue.splice(0, options.maxGroupSize);
      inFlight += 1;
      sendGroup(group)
        .catch((error: unknown) => {
          // A sender that threw instead of settling: nobody of its group may wait forever.
          for (const waiting of group) waiting.reject(error);
        })
        .finally(() => {
          inFlight -= 1;
          if (queue.length > 0) scheduleDrain();
        });
    }
  };
  // Requests made in the same turn of the event loop (a Promise.all of them) join one group.
  const scheduleDrain = () => {
    if (drainScheduled) return;
    drainScheduled = true;
    queueMicrotask(drain);
  };

  return (request) =>
    new Promise<Result>((resolve, reject) => {
      queue.push({ request, resolve, reject });
      scheduleDrain();
    });
}
