import { ApiError, CliError, type Problem } from "./errors.js";
import type { Target } from "./contexts.js";
import { CLI_VERSION } from "./version.js";

/**
 * The CLI's only way to Slipway: the HTTP API, as any script would call it. Refusals become
 * ApiErrors (problem+json), an unreachable server one CliError naming the URL.
 */

const REQUEST_TIMEOUT_MS = 30_000;

export type Query = Record<string, string | number | undefined>;

type RequestOptions = {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
};

export class ApiClient {
  constructor(readonly target: Target) {}

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, query ? { query } : {});
  }

  post<T>(path: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<T> {
    return this.request<T>("POST", path, { body, headers });
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, { body });
  }

  url(path: string, query: Query = {}): string {
    // The server may sit under a path prefix (a proxy, an API Gateway stage): keep it.
    let url: URL;
    try {
      url = new URL(`${this.target.url.replace(/\/+$/, "")}${path}`);
    } catch {
      throw new CliError(`the server URL "${this.target.url}" is not a URL (such as http://127.0.0.1:8787)`);
    }
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    return url.toString();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      "user-agent": `slipway-cli/${CLI_VERSION}`,
      accept: "application/json",
      ...(this.target.apiKey ? { authorization: `Bearer ${this.target.apiKey}` } : {}),
      ...extra,
    };
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.send(this.url(path, options.query), {
      method,
      headers: this.headers({
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
        ...options.headers,
      }),
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) throw new ApiError(problemOf(res, text));
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${method} ${path} answered ${res.status} with something that is not JSON`);
    }
  }

  /**
   * Server-sent events from `path`: each event as it arrives, until `signal` aborts or the server
   * ends the stream. `lastEventId` resumes after the event of that id.
   */
  async *events(path: string, query: Query, lastEventId: string | undefined, signal: AbortSignal) {
    const res = await this.send(this.url(path, query), {
      headers: this.headers({
        accept: "text/event-stream",
        ...(lastEventId ? { "last-event-id": lastEventId } : {}),
      }),
      signal,
    });
    if (!res.ok) throw new ApiError(problemOf(res, await res.text()));
    if (!res.body) return;
    yield* parseEventStream(res.body, signal);
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (init.signal?.aborted && (init.signal.reason as Error | undefined)?.name === "AbortError") throw err;
      throw new CliError(`cannot reach ${this.target.url}: ${networkReason(err)}`);
    }
  }
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
  return cause === "ECONNREFUSED" ? "connection refused (is the server running?)" : cause;
}

function problemOf(res: Response, text: string): Problem {
  try {
    const body = JSON.parse(text) as Partial<Problem>;
    if (body && typeof body === "object") return { ...body, status: res.status };
  } catch {
    // Not problem+json (a proxy in between, say): the status line is all there is.
  }
  return { status: res.status, detail: `${res.status} ${res.statusText || "error"} from the server` };
}

export type ServerSentEvent = { event: string; id?: string; data: string };

/** The text/event-stream format: blocks of `field: value` lines separated by a blank line. */
export async function* parseEventStream(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener("abort", onAbort, { once: true });
  let buffer = "";
  let event: { event?: string; id?: string; data: string[] } = { data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (event.data.length)
            yield {
              event: event.event ?? "message",
              ...(event.id ? { id: event.id } : {}),
              data: event.data.join("\n"),
            };
          event = { data: [] };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") event.data.push(value);
        else if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
