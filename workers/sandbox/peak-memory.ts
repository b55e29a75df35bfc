import type Docker from 'dockerode';

export interface PeakMemorySampler {
  /** Stops sampling (idempotent) and returns the highest value seen, if any sample arrived. */
  stop(): number | undefined;
}

/**
 * Delay before asking for stats. The engine answers a stats stream about once a second and a
 * stopped container has no stats at all, so trivial jobs would pay a request for nothing.
 */
const firstSampleDelayMs = 200;

/**
 * Samples a running container's memory through the engine's stats stream. On cgroup v1
 * `memory_stats.max_usage` is the cgroup's own high-water mark, so one late sample still sees an
 * early peak; on cgroup v2 only `usage` exists and the figure is the highest sample.
 */
export function startPeakMemorySampler(container: Docker.Container): PeakMemorySampler {
  let peak: number | undefined;
  let stopped = false;
  let stream: NodeJS.ReadableStream | undefined;
  let buffered = '';

  const onData = (chunk: Buffer): void => {
    buffered += chunk.toString('utf8');
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        const memory = (JSON.parse(line) as { memory_stats?: { max_usage?: number; usage?: number } })
          .memory_stats;
        const sample = memory?.max_usage ?? memory?.usage;
        if (typeof sample === 'number' && sample > 0) peak = Math.max(peak ?? 0, sample);
      } catch {
        // A malformed line costs one sample, nothing more.
      }
    }
  };

  const timer = setTimeout(() => {
    container.stats({ stream: true }).then(
      (opened) => {
        stream = opened as NodeJS.ReadableStream;
        if (stopped) return destroy(stream);
        stream.on('data', onData);
        // Stats are a nicety: an error (the container just went away) leaves the peak as it was.
        stream.on('error', () => undefined);
      },
      () => undefined,
    );
  }, firstSampleDelayMs);

  return {
    stop() {
      if (!stopped) {
        stopped = true;
        clearTimeout(timer);
        if (stream) destroy(stream);
      }
      return peak;
    },
  };
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}
