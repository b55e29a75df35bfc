import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followSse, type SseEvent } from '../../services/cli/sse-stream.ts';
import { testImage } from '../support/test-image.ts';
import { type CliStack, jsonLines, startCliStack } from './cli-harness.ts';
import { startDroppingProxy } from './dropping-proxy.ts';

/** A feed server whose handler writes raw bytes, so line ends and framing are exactly as given. */
async function rawFeedServer(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/feed`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function collect(events: AsyncIterable<SseEvent>): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

describe('followSse (eventsource-parser)', () => {
  it('reads multi-line data, CRLF and CR line ends, comments and ids', async () => {
    const feed = await rawFeedServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(': a comment\r\n\r\n');
      response.write('event: line\r\nid: 1\r\ndata: first\r\ndata: second\r\n\r\n');
      // An event split across writes, in the middle of a CRLF, then CR alone.
      response.write('event: line\r');
      response.write('\nid: 2\rdata: third\r\r');
      response.end('event: end\ndata: {}\n\n');
    });
    try {
      const events = await collect(followSse({ open: (_id, signal) => fetch(feed.url, { signal }) }));
      expect(events).toEqual([
        { event: 'line', id: '1', data: 'first\nsecond' },
        { event: 'line', id: '2', data: 'third' },
        { event: 'end', data: '{}' },
      ]);
    } finally {
      await feed.close();
    }
  });

  it('reopens a dropped feed with Last-Event-ID and goes on after it: nothing lost, nothing twice', async () => {
    const asked: (string | undefined)[] = [];
    const feed = await rawFeedServer((request, response) => {
      const last = request.headers['last-event-id'] as string | undefined;
      asked.push(last);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('retry: 10\n\n');
      const from = last === undefined ? 1 : Number(last) + 1;
      for (let n = from; n <= 6; n += 1) {
        // The first two connections die after two events each, without `end` (once on the wire).
        if (asked.length <= 2 && n === from + 1) {
          response.write(`id: ${n}\ndata: ${n}\n\n`, () => response.socket?.destroy());
          return;
        }
        response.write(`id: ${n}\ndata: ${n}\n\n`);
      }
      response.end('event: end\ndata: {}\n\n');
    });
    try {
      const reconnects: (string | undefined)[] = [];
      const events = await collect(
        followSse({
          open: (lastEventId, signal) =>
            fetch(feed.url, {
              signal,
              headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
            }),
          onReconnect: (_attempt, lastEventId) => reconnects.push(lastEventId),
        }),
      );
      expect(events.filter((event) => event.event === 'message').map((event) => event.data)).toEqual([
        '1',
        '2',
        '3',
        '4',
        '5',
        '6',
      ]);
      expect(asked).toEqual([undefined, '2', '4']);
      expect(reconnects).toEqual(['2', '4']);
    } finally {
      await feed.close();
    }
  });

  it('gives up after the reconnects allowed when the feed never delivers', async () => {
    let opened = 0;
    const feed = await rawFeedServer((_request, response) => {
      opened += 1;
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end('retry: 1\n\n');
    });
    try {
      await expect(
        collect(followSse({ open: (_id, signal) => fetch(feed.url, { signal }), maxReconnects: 2 })),
      ).rejects.toThrow(
        'the feed kept dropping: it closed before its end 3 times in a row, delivering nothing',
      );
      expect(opened).toBe(3);
    } finally {
      await feed.close();
    }
  });
});

describe('omni through a connection that drops mid-feed', { timeout: 180_000 }, () => {
  let cli: CliStack;
  beforeAll(async () => {
    cli = await startCliStack('cli-sse');
  });
  afterAll(async () => {
    await cli?.stop();
  });

  it('events tail resumes after the last cursor: every event once, exit 0', async () => {
    for (let n = 0; n < 3; n += 1) {
      const run = await cli.omni(['submit', '--wait', testImage, '--', 'echo', String(n)]);
      expect(run.code).toBe(0);
    }
    const direct = jsonLines((await cli.omni(['events', 'tail', '--json', '--limit', '12'])).stdout) as {
      cursor: string;
    }[];
    expect(direct).toHaveLength(12);

    const proxy = await startDroppingProxy(cli.server.url, { eventsBeforeCut: 4, cutFeeds: 2 });
    try {
      const run = await cli.omni(['events', 'tail', '--json', '--limit', '12'], {
        env: { OMNI_URL: proxy.url, OMNI_RECONNECT_DELAY_MS: '50' },
      });
      expect(run.code, run.stderr).toBe(0);
      const cursors = (jsonLines(run.stdout) as { cursor: string }[]).map((event) => event.cursor);
      expect(cursors).toEqual(direct.map((event) => event.cursor));
      expect(proxy.cuts()).toBe(2);
      // Each reconnect named the last event it had: the 4th, then the 8th.
      expect(proxy.lastEventIds).toEqual([undefined, direct[3]?.cursor, direct[7]?.cursor]);
      expect(run.stderr).toMatch(/omni: the feed dropped; reconnecting/);
    } finally {
      await proxy.close();
    }
  });

  it('submit --wait and jobs watch and logs --follow resume a job feed cut mid-way', async () => {
    const proxy = await startDroppingProxy(cli.server.url, { eventsBeforeCut: 2, cutFeeds: 3 });
    try {
      const env = { OMNI_URL: proxy.url, OMNI_RECONNECT_DELAY_MS: '50' };
      const waited = await cli.omni(
        [
          'submit',
          '--wait',
          testImage,
          '--',
          'sh',
          '-c',
          'for n in 1 2 3; do echo line-$n; sleep 0.2; done; exit 5',
        ],
        { env },
      );
      expect(waited.code, waited.stderr).toBe(5);
      expect(waited.stdout).toBe('line-1\nline-2\nline-3\n');
      const id = /omni: job ([0-9a-f-]{36})/.exec(waited.stderr)?.[1] ?? '';

      const watched = await cli.omni(['jobs', 'watch', '--json', id], { env });
      expect(watched.code).toBe(5);
      const versions = (jsonLines(watched.stdout) as { streamVersion: number }[]).map(
        (event) => event.streamVersion,
      );
      expect(versions).toEqual(versions.map((_, index) => index + 1));
      expect(versions.length).toBeGreaterThan(4);

      const logs = await cli.omni(['jobs', 'logs', '--follow', id], { env });
      expect(logs).toMatchObject({ code: 0, stdout: 'line-1\nline-2\nline-3\n' });
      expect(proxy.cuts()).toBe(3);
    } finally {
      await proxy.close();
    }
  });
});
