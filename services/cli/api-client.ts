/** Where the CLI's client commands find the API, and as whom they call it. */
export interface ApiClientOptions {
  readonly url: string;
  readonly token: string;
}

/** A failed API call; carries the problem+json the API answered with. */
class ApiCallError extends Error {
  readonly status: number;
  readonly problem: unknown;
  constructor(status: number, problem: unknown) {
    const detail = (problem as { detail?: string; code?: string } | undefined) ?? {};
    super(`${status} ${detail.code ?? ''}: ${detail.detail ?? 'request failed'}`.trim());
    this.name = 'ApiCallError';
    this.status = status;
    this.problem = problem;
  }
}

/** The JSON body of a response, or the problem it carries as an ApiCallError. */
async function jsonBody<T>(response: Response): Promise<T> {
  const text = await response.text();
  const body = text ? (JSON.parse(text) as unknown) : undefined;
  if (!response.ok) throw new ApiCallError(response.status, body);
  return body as T;
}

/** A tiny fetch wrapper: JSON in, JSON out, problem+json turned into ApiCallError. */
export function createApiClient(options: ApiClientOptions) {
  const base = options.url.replace(/\/$/, '');
  const headers = { authorization: `Bearer ${options.token}` };
  return {
    async json<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
      const response = await fetch(`${base}${path}`, {
        method: init.method ?? 'GET',
        headers: { ...headers, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      return jsonBody<T>(response);
    },
    /** Sends raw bytes (an upload) and returns the JSON answer. */
    async upload<T>(path: string, content: Uint8Array, contentType: string): Promise<T> {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': contentType },
        body: content,
      });
      return jsonBody<T>(response);
    },
    /** The bytes at `path` (a download). */
    async bytes(path: string): Promise<Buffer> {
      const response = await fetch(`${base}${path}`, { headers });
      if (!response.ok) throw new ApiCallError(response.status, await response.json().catch(() => undefined));
      return Buffer.from(await response.arrayBuffer());
    },
    /** Server-Sent Events from `path`, one parsed `{ event, data }` at a time, until the stream ends. */
    async *events(path: string, signal?: AbortSignal): AsyncGenerator<{ event: string; data: unknown }> {
      const response = await fetch(`${base}${path}`, {
        headers: { ...headers, accept: 'text/event-stream' },
        ...(signal ? { signal } : {}),
      });
      if (!response.ok || !response.body)
        throw new ApiCallError(response.status, await response.json().catch(() => undefined));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        for (let boundary = buffer.indexOf('\n\n'); boundary !== -1; boundary = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) yield { event, data: JSON.parse(data) as unknown };
        }
      }
    },
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
