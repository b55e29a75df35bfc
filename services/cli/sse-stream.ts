import {
  type FollowOptions,
  followEventStream,
  OmniProblemError,
  type StreamEvent,
} from '../../client/index.ts';
import { cliErrorOf } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { exitCodes } from './exit-codes.ts';

/** One Server-Sent Event: its type (`message` when unnamed), its id when it had one, its data. */
export type SseEvent = StreamEvent;

export type FollowSseOptions = FollowOptions;

// A refusal (the API's, or the CLI's own) is not worth a retry; an unreachable API is.
const defaultIsFatal = (error: unknown) =>
  error instanceof OmniProblemError ||
  (error instanceof CliError && error.exitCode !== exitCodes.unreachable);

/**
 * The client's feed follower (eventsource-parser, reopened after the last id when the feed drops)
 * with the CLI's failures: a feed that kept dropping is a CliError, as is the API's refusal.
 */
export async function* followSse(options: FollowSseOptions): AsyncGenerator<SseEvent> {
  try {
    yield* followEventStream({ ...options, isFatal: options.isFatal ?? defaultIsFatal });
  } catch (error) {
    throw cliErrorOf(error);
  }
}
