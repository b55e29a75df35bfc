import type { ApiClient } from './api-client.ts';
import { eventStyle, type Output, paint } from './output.ts';

export interface EventsTailOptions {
  readonly after?: string;
  readonly types?: readonly string[];
  readonly json: boolean;
  /** Stop after this many events (scripts); unset: follow until interrupted. */
  readonly limit?: number;
  readonly signal?: AbortSignal;
}

interface LogEvent {
  readonly position: number;
  readonly cursor: string;
  readonly type: string;
  readonly streamVersion: number;
  readonly recordedAt: string;
  readonly metadata: { readonly actor?: string };
}

/** `omni events tail`: follows the global log (admin token), one line per event. */
export async function runEventsTail(
  client: ApiClient,
  options: EventsTailOptions,
  out: Output,
): Promise<number> {
  const query = new URLSearchParams();
  if (options.after) query.set('after', options.after);
  if (options.types?.length) query.set('type', options.types.join(','));
  let seen = 0;
  for await (const { event, data } of client.events(`/v1/events/watch?${query}`, options.signal)) {
    if (event === 'end') break;
    const view = data as LogEvent & { streamId?: string };
    if (options.json) out.write(`${JSON.stringify(view)}\n`);
    else {
      out.write(
        `${paint(out, 'dim', String(view.position).padStart(8))} ${paint(out, 'dim', view.recordedAt)} ${paint(out, eventStyle(view.type), view.type.padEnd(20))} v${view.streamVersion} ${view.metadata.actor ?? ''}\n`,
      );
    }
    seen += 1;
    if (options.limit !== undefined && seen >= options.limit) break;
  }
  return 0;
}
