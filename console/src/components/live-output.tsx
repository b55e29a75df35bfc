import { useEffect, useState } from 'preact/hooks';
import { useSession } from '../session-context.ts';
import type { OutputChunk } from '../types.ts';

/**
 * stdout and stderr as the worker records them, followed over the output route's event stream
 * (fetch with the Authorization header) until the job finishes. Every byte is shown as text.
 */
export function LiveOutput(props: { readonly id: string; readonly attempt: number }) {
  const { api } = useSession();
  const [chunks, setChunks] = useState<readonly OutputChunk[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const controller = new AbortController();
    let seen: OutputChunk[] = [];
    setChunks([]);
    api
      .follow(`/v1/jobs/${encodeURIComponent(props.id)}/output?follow=1`, controller.signal, (message) => {
        if (message.event !== 'output') return;
        const chunk = JSON.parse(message.data) as OutputChunk;
        seen = [...seen, chunk];
        setChunks(seen);
      })
      .catch((caught: unknown) => {
        if (!controller.signal.aborted) setError(caught instanceof Error ? caught.message : String(caught));
      });
    return () => controller.abort();
  }, [api, props.id]);
  const current = chunks.filter((chunk) => chunk.attempt === props.attempt);
  const text = (stream: OutputChunk['stream']) =>
    current
      .filter((chunk) => chunk.stream === stream)
      .map((chunk) => chunk.text)
      .join('');
  return (
    <section class="output" data-testid="live-output">
      <h2>
        Output <span class="live">live</span>
      </h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <h3>stdout</h3>
      <pre data-testid="stdout">{text('stdout')}</pre>
      <h3>stderr</h3>
      <pre data-testid="stderr">{text('stderr')}</pre>
    </section>
  );
}

/** The output stored with the attempt's result. */
export function StoredOutput(props: { readonly stdout: string | null; readonly stderr: string | null; readonly truncated: boolean }) {
  return (
    <section class="output" data-testid="stored-output">
      <h2>Output</h2>
      {props.truncated && <p class="muted">Truncated at the output cap.</p>}
      <h3>stdout</h3>
      <pre data-testid="stdout">{props.stdout ?? ''}</pre>
      <h3>stderr</h3>
      <pre data-testid="stderr">{props.stderr ?? ''}</pre>
    </section>
  );
}
